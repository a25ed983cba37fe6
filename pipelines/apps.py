from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Pipelines"

    def ready(self):
        from pipelines.services import on_process_finished
        from scripts.signals import process_finished

        from pipelines.services import active_processes, busy_reason
        from pipelines.versions import saved_files
        from upload.cleanup import REFERENCED_FILES
        from pipelines.outcomes import deletion_note
        from upload.models import ACTIVE_PROCESSES, BUSY_CHECKS, DELETION_NOTES

        process_finished.connect(on_process_finished, dispatch_uid="pipelines-next-stage")
        if busy_reason not in BUSY_CHECKS:
            BUSY_CHECKS.append(busy_reason)
        if deletion_note not in DELETION_NOTES:
            DELETION_NOTES.append(deletion_note)
        if active_processes not in ACTIVE_PROCESSES:
            ACTIVE_PROCESSES.append(active_processes)
        if saved_files not in REFERENCED_FILES:
            REFERENCED_FILES.append(saved_files)
