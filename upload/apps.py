import os

from django.apps import AppConfig
from django.conf import settings


class UploadConfig(AppConfig):
    name = "upload"
    verbose_name = "Projects and files"

    def ready(self):
        # Made on start, before Django's check (files.E001) that it exists; that check then says
        # what is wrong when it cannot be made.
        try:
            os.makedirs(settings.FILE_UPLOAD_TEMP_DIR, exist_ok=True)
        except OSError:
            pass
        from scripts.signals import worker_idle_hourly
        from upload.cleanup import remove_orphans_when_idle

        worker_idle_hourly.connect(remove_orphans_when_idle, dispatch_uid="upload.remove_orphans")
