"""Middleware of uploads: temporary files removed when a request ends (UploadTempFilesMiddleware), and
"too many files in one request" and "form too large" as a clear message instead of a bare 400 page.

Django refuses a request with more files than DATA_UPLOAD_MAX_NUMBER_FILES
while parsing it, which happens first in the CSRF check. This middleware
parses earlier (it sits after the message middleware, before any view
runs), and on that error sends the user back with a message. It changes
nothing on the server, so answering before the CSRF check is safe. A form
body over DATA_UPLOAD_MAX_MEMORY_SIZE (in practice only a pasted review
dictionary gets there) is answered the same way (TooManyFilesMiddleware). A client that goes away
mid-upload (the body cannot be read to its end) is answered 400 (Django logs a warning): it is no
fault of the site, and an "Internal Server Error" with a traceback (and a mail to the ADMINS) per
closed laptop lid would bury the real ones.
"""

import logging

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpResponseBadRequest, UnreadablePostError
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from upload import tempfiles

log = logging.getLogger(__name__)

INTERRUPTED = "The upload was interrupted before it ended; nothing was added."


def too_many_files_message(exc):
    """Said of a request with more files than DATA_UPLOAD_MAX_NUMBER_FILES (here, and by the API's middleware)."""
    return f"Too many files in one upload ({exc}). Upload them in smaller batches or as a .zip archive. Nothing was added."


class UploadTempFilesMiddleware:
    """Remove the request's temporary upload files when it ends, whatever ends it.

    Outermost, so that it also sees a parse that fails (a client that disconnects mid-upload) and
    exceptions that no other middleware turns into a response (SystemExit of a stopping gunicorn worker).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            for uploaded in getattr(request, "upload_temp_files", ()):
                path = uploaded.temporary_file_path()
                try:
                    uploaded.close()  # a NamedTemporaryFile: closing it removes it
                except OSError:
                    pass
                tempfiles.remove(path)


class TooManyFilesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST":
            try:
                request.POST  # noqa: B018  (parses the body, files included)
            except TooManyFilesSent as exc:
                messages.error(request, too_many_files_message(exc))
                return redirect(self._back(request))
            except RequestDataTooBig:
                messages.error(request, self._too_big_message(request))
                return redirect(self._back(request))
            except UnreadablePostError as exc:
                log.info("The client stopped sending %s before its end (%s); nothing was added", request.path, exc)
                return HttpResponseBadRequest(INTERRUPTED, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _too_big_message(request):
        # A view whose form can grow this large (the review's pasted dictionary) says what to do about
        # it in an attribute, as views say `csrf_exempt`: this site-wide middleware imports no app's views.
        try:
            advice = getattr(resolve(request.path_info).func, "too_large_message", None)
        except Resolver404:
            advice = None
        if advice:
            return advice()
        return "What you sent is larger than this form takes; nothing was saved. Send less text at once."

    @staticmethod
    def _back(request):
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        if match and match.url_name == "upload-add-files":
            return reverse("upload-project", kwargs={"project_id": match.kwargs["project_id"]})
        if match and getattr(match.func, "too_large_message", None):  # back to the form, to send less
            return request.path
        back = request.headers.get("Referer", "")
        if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
            return back
        return "/"
