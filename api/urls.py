"""/api/v1/: the resources (api.views), the schema and its docs page; anything else under /api/ is a JSON 404."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from api import views


class Docs(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar, its start-up script a file of its own (the Content-Security-Policy
    allows no inline script), in a page without inline style (templates/api/swagger_ui.html)."""

    template_name = "api/swagger_ui.html"
    permission_classes = [AllowAny]


class Schema(SpectacularJSONAPIView):
    permission_classes = [AllowAny]


urlpatterns = [
    path("api/v1/me/", views.Me.as_view(), name="api-me"),
    path("api/v1/pipelines/", views.pipeline_list, name="api-pipeline-list"),
    path("api/v1/projects/", views.ProjectList.as_view(), name="api-project-list"),
    path("api/v1/projects/<uuid:project_id>/", views.ProjectDetail.as_view(), name="api-project-detail"),
    path("api/v1/projects/<uuid:project_id>/files/", views.FileList.as_view(), name="api-file-list"),
    path("api/v1/projects/<uuid:project_id>/files/<uuid:file_id>/", views.FileDetail.as_view(), name="api-file-detail"),
    path("api/v1/projects/<uuid:project_id>/files/<uuid:file_id>/download/", views.FileDownload.as_view(),
         name="api-download-file"),
    path("api/v1/projects/<uuid:project_id>/runs/", views.RunList.as_view(), name="api-run-list"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/", views.RunDetail.as_view(), name="api-run-detail"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/review/", views.RunReview.as_view(),
         name="api-run-review"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/cancel/", views.RunCancel.as_view(),
         name="api-run-cancel"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/results/", views.ResultList.as_view(),
         name="api-result-list"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/results/<str:name>/", views.ResultDownload.as_view(),
         name="api-result"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/results/<str:name>/versions/",
         views.ResultVersionList.as_view(), name="api-result-versions"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/results/<str:name>/versions/<int:number>/",
         views.ResultVersionDetail.as_view(), name="api-result-version"),
    path("api/v1/projects/<uuid:project_id>/runs/<uuid:run_id>/results.zip", views.ResultsZip.as_view(),
         name="api-results-zip"),
    path("api/v1/schema/", Schema.as_view(), name="api-schema"),
    path("api/v1/docs/", Docs.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/(?P<rest>.*)$", views.not_found, name="api-not-found"),
]
