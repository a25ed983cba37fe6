"""An upload handler that stops receiving a file once it is over the size limit.

Django streams large uploads to a temporary file; without this a 50 GB upload
would fill the disk before the view could refuse it. The names of skipped
files are kept on the request so the view can say which were too large.

Each temporary file is tracked (upload.tempfiles) and listed on the request, so that it is removed
when the request ends in any way: Django removes the files of a finished parse, but not the one
being written when the client disconnects or the parser fails.
"""

from django.conf import settings
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler

from upload import tempfiles


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args, **kwargs):
        tempfiles.temp_dir()
        super().new_file(*args, **kwargs)
        tempfiles.track(self.file.temporary_file_path())
        if not hasattr(self.request, "upload_temp_files"):
            self.request.upload_temp_files = []
        self.request.upload_temp_files.append(self.file)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_FILE_BYTES:
            if not hasattr(self.request, "oversized_uploads"):
                self.request.oversized_uploads = []
            self.request.oversized_uploads.append(self.file_name)
            self.file.close()  # deletes the temporary file
            raise SkipFile()
        return super().receive_data_chunk(raw_data, start)
