from django.apps import AppConfig


class ScriptsConfig(AppConfig):
    name = "scripts"
    verbose_name = "CLAM scripts"

    def ready(self):
        from scripts import checks  # noqa: F401  (registers the system checks)
        from scripts.housekeeping import purge_when_idle
        from scripts.signals import worker_idle_hourly

        worker_idle_hourly.connect(purge_when_idle, dispatch_uid="scripts.purge_completed_tasks")
