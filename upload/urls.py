from django.urls import path

from upload import views

urlpatterns = [
    path("projects/new/", views.create_project, name="upload-create-project"),
    path("projects/<uuid:project_id>/rename/", views.rename_project, name="upload-rename-project"),
    path("projects/<uuid:project_id>/delete/", views.delete_project, name="upload-delete-project"),
    path("projects/<uuid:project_id>/files/", views.add_files, name="upload-add-files"),
    path("projects/<uuid:project_id>/files/<uuid:file_id>/delete/", views.delete_file, name="upload-delete-file"),
    path("projects/<uuid:project_id>/files/<uuid:file_id>/download/", views.download_file, name="upload-download-file"),
    # A project's pages were under /upload/ until issue 15: bookmarks, links in mails and pages opened before
    # an upgrade keep working.
    path("upload/<uuid:project_id>/", views.Moved.as_view(pattern_name="upload-project")),
    path("upload/<uuid:project_id>/files/", views.Moved.as_view(pattern_name="upload-add-files")),
    path("upload/<uuid:project_id>/files/<uuid:file_id>/delete/", views.Moved.as_view(pattern_name="upload-delete-file")),
    path(
        "upload/<uuid:project_id>/files/<uuid:file_id>/download/",
        views.Moved.as_view(pattern_name="upload-download-file"),
    ),
]
