from django.urls import path

from pipelines import views

run = "projects/<uuid:project_id>/runs/<uuid:run_id>/"
urlpatterns = [
    # The projects' own pages, here because they show runs (see pipelines.views).
    path("projects/", views.project_list, name="upload-project-list"),
    path("projects/<uuid:project_id>/", views.project_files, name="upload-project"),
    path("projects/<uuid:project_id>/align/", views.start_run, name="pipelines-start-run"),
    path("projects/<uuid:project_id>/runs/", views.project_runs, name="pipelines-project-runs"),
    path(run, views.run_detail, name="pipelines-run"),
    path(run + "status/", views.run_status, name="pipelines-run-status"),
    path(run + "dictionary/", views.review_dictionary, name="pipelines-review"),
    path(run + "cancel/", views.cancel_run, name="pipelines-cancel-run"),
    path(run + "results.zip", views.download_results, name="pipelines-download-results"),
    path(run + "words-to-check.csv", views.download_words_to_check, name="pipelines-download-words-to-check"),
    path(run + "results/<path:name>", views.download_result, name="pipelines-download-result"),
    path(run + "export/<str:format>/<str:name>", views.export_result, name="pipelines-export-result"),
    path(run + "view/<str:name>", views.view_result, name="pipelines-view-result"),
    path(run + "text/<path:name>", views.view_text, name="pipelines-view-text"),
    path(run + "edit/<str:name>", views.edit_result, name="pipelines-edit-result"),
    path(run + "audio/<str:name>", views.result_audio, name="pipelines-result-audio"),
    path(run + "peaks/<str:name>", views.result_peaks, name="pipelines-result-peaks"),
    path(run + "versions/<str:name>", views.save_version, name="pipelines-save-version"),
]
