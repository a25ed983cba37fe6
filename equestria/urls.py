from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView, TemplateView


class FaviconView(RedirectView):
    # Browsers ask for /favicon.ico on pages without <link rel="icon"> (the admin's);
    # the icon's static URL has a content hash (WhiteNoise's manifest), so it is looked up per request.
    def get_redirect_url(self, *args, **kwargs):
        return static("favicon.svg")


urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/", include("accounts.urls")),
    path("accounts/tokens/", include("api.tokens")),
    path("", include("upload.urls")),
    path("", include("pipelines.urls")),
    path("", include("api.urls")),
    # Pipelines moved to the `scripts` app (issue 15): administrators' bookmarks of their admin pages still work.
    re_path(r"^admin/pipelines/pipeline/(?P<rest>.*)$",
            RedirectView.as_view(url="/admin/scripts/pipeline/%(rest)s", query_string=True)),
    path("admin/", admin.site.urls),
    path("favicon.ico", FaviconView.as_view()),
]
