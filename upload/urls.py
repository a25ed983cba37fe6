from django.urls import path

from upload import views

urlpatterns = [
    path("projects/new/", views.create_project, name="upload-create-project"),
    path("projects/<uuid:project_id>/rename/", views.rename_project, name="upload-rename-project"),
    path("projects/<uuid:project_id>/delete/", views.delete_project, name="upload-delete-project"),
    path("upload/<uuid:project_id>/files/", views.add_files, name="upload-add-files"),
    path("upload/<uuid:project_id>/files/<uuid:file_id>/delete/", views.delete_file, name="upload-delete-file"),
    path("upload/<uuid:project_id>/files/<uuid:file_id>/download/", views.download_file, name="upload-download-file"),
]
