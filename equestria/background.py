"""App configuration for django-background-tasks.

The package ships migrations made with AutoField; with our BigAutoField
default, makemigrations would otherwise try to write a migration into the
installed package.
"""

from background_task.apps import BackgroundTasksAppConfig


class BackgroundTasksConfig(BackgroundTasksAppConfig):
    default_auto_field = "django.db.models.AutoField"
