from django.urls import path

from upload import views

urlpatterns = [
    path("", views.project_list, name="upload-project-list"),
]
