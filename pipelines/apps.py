from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Pipelines"

    def ready(self):
        from pipelines.services import on_process_finished
        from scripts.signals import process_finished

        process_finished.connect(on_process_finished, dispatch_uid="pipelines-next-stage")
