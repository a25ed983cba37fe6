from django.apps import AppConfig


class ScriptsConfig(AppConfig):
    name = "scripts"
    verbose_name = "CLAM scripts"

    def ready(self):
        from scripts import checks  # noqa: F401  (registers the system checks)
