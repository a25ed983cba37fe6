"""The API's answers, in JSON, to bodies refused before any view runs: too many files, a form or JSON
body over DATA_UPLOAD_MAX_MEMORY_SIZE, a client that stopped sending. The pages get the same refusals as
a message on the page they came from (upload.middleware.TooManyFilesMiddleware, which comes after this).
"""

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.http import HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, resolve

from api.errors import CODES
from pipelines import versions
from upload.middleware import INTERRUPTED, too_many_files_message

log = logging.getLogger(__name__)

PREFIX = "/api/"
TOO_LARGE = ("What you sent is larger than the API takes in one request ({limit} bytes) outside of uploaded files; "
             "nothing was saved.")


def _json(code, detail):
    return HttpResponse(json.dumps({"code": code, "detail": detail}), status=CODES[code][0],
                        content_type="application/json")


class ApiBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(PREFIX) or request.method in ("GET", "HEAD", "OPTIONS"):
            return self.get_response(request)
        if request.content_type != "multipart/form-data":
            # DRF reads a JSON body whole, without Django's limit: refuse a huge one before it does.
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if _is_version_put(request):  # the view reads it itself, to the editor's limit (pipelines.versions)
                return self.get_response(request)
            if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None and length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                return _json("request_too_large", TOO_LARGE.format(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
            return self.get_response(request)
        try:
            request.POST  # noqa: B018  (parses the body, files included, through the upload handlers)
        except TooManyFilesSent as exc:
            return _json("too_many_files", too_many_files_message(exc))
        except RequestDataTooBig:
            return _json("request_too_large", TOO_LARGE.format(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
        except MultiPartParserError as exc:
            # Django would answer with the site's 400 page.
            return _json("parse_error", f"The multipart body cannot be read ({exc}); nothing was added. Send files as "
                         "multipart/form-data, e.g. curl -F files=@a.wav.")
        except UnreadablePostError as exc:
            log.info("The client stopped sending %s before its end (%s); nothing was added", request.path, exc)
            return _json("upload_interrupted", INTERRUPTED)
        return self.get_response(request)


def _is_version_put(request):
    if request.method != "PUT":
        return False
    try:
        return resolve(request.path_info).url_name == "api-result-version"
    except Resolver404:
        return False
