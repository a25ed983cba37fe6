"""Every error of the API as {"code": …, "detail": …}: a stable code for scripts, and the message the
page would show for people. `CODES` is the list of codes; `exception_handler` turns DRF's exceptions, a
404 and any unexpected error into that shape; `responses` documents an operation's codes in the schema.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response

log = logging.getLogger(__name__)

# code: (HTTP status, an example of its detail for the schema)
CODES = {
    "not_authenticated": (401, "Authentication credentials were not provided."),
    "invalid_token": (401, "The token is not valid: it was revoked, or it is not the whole key. …"),
    "token_expired": (401, "The token “laptop” expired on 2026-01-31 12:00 UTC. …"),
    "user_inactive": (401, "This account is inactive."),
    "authentication_failed": (401, "Invalid token header. No credentials provided."),
    "csrf_failed": (403, "CSRF Failed: CSRF token missing. …"),
    "throttled": (429, "Request was throttled. Expected available in 30 seconds."),
    "not_found": (404, "Not found."),
    "project_gone": (404, "This project no longer exists: it was deleted."),
    "method_not_allowed": (405, "Method \"PUT\" not allowed."),
    "not_acceptable": (406, "Could not satisfy the request Accept header."),
    "unsupported_media_type": (415, "Unsupported media type \"text/plain\" in request."),
    "parse_error": (400, "JSON parse error - Expecting value: line 1 column 1 (char 0)"),
    "required": (400, "Name: This field is required."),
    "max_length": (400, "Name: Ensure this value has at most 100 characters (it has 120)."),
    "invalid_choice": (400, "Pipeline: Select a valid choice. That choice is not one of the available choices."),
    "duplicate_name": (400, "Name: You already have a project with this name."),
    "invalid": (400, "Name: Enter a valid value."),
    "no_pipelines": (409, "No pipelines are set up on this server yet, so there is nothing to align with. …"),
    "project_busy": (409, "Nothing was added. An alignment of this project is running; …"),
    "no_files": (400, "Choose one or more files to upload."),
    "unknown_converter": (400, "Nothing was added: “pdf” is not a conversion the service offers; it offers: latin1 "
                               "(Convert from Latin-1, for “Input text document” files)"),
    "converter_twice": (400, "Nothing was added: two conversions were chosen for “Input text document” files; "
                             "choose one"),
    "files_refused": (400, "a.mp4: .mp4 files are not used by the English pipeline; it takes .dict, .txt, .wav"),
    "too_many_files": (400, "Too many files in one upload (…). Upload them in smaller batches or as a .zip archive. "
                            "Nothing was added."),
    "request_too_large": (413, "What you sent is larger than this form takes; nothing was saved. …"),
    "upload_interrupted": (400, "The upload was interrupted before it ended; nothing was added."),
    "min_value": (400, "Beam: Ensure this value is greater than or equal to 1."),
    "max_value": (400, "Beam: Ensure this value is less than or equal to 100."),
    "unknown_parameter": (400, "This pipeline has no parameter speed; it takes: beam, max_minutes."),
    "cannot_start": (409, "Not every recording has a transcript with words: … Add what is missing, or choose …"),
    "invalid_format": (400, "There is no format “docx”: choose one of textgrid, eaf, csv, json."),
    "no_results": (409, "This run has no results yet."),
    "not_convertible": (422, "This result cannot be converted; download its TextGrid instead."),
    "invalid_version": (400, "Tier “words”: the interval at 0.460 s does not start where the one before it ends …"),
    "stale_version": (409, "This result was changed in another tab or by someone else since you opened it — reload …"),
    "not_in_review": (409, "This run is not waiting for a review."),
    "not_cancellable": (409, "This run has already ended (done); there is nothing to cancel."),
    "dictionary_refused": (400, "Line 2: “pony” needs at least one phone after the word. …"),
    "dictionary_too_large": (413, "The dictionary is larger than 1.0 MB; keep only the lines for the words of this "
                                  "run (the aligner already knows all other words)."),
    "server_error": (500, "An error on the server stopped this request; it is logged for the administrators. …"),
}
# What any operation behind authentication may answer.
AUTHENTICATION = ("not_authenticated", "invalid_token", "token_expired", "user_inactive", "authentication_failed",
                  "throttled")
SERVER_ERROR = ("An error on the server stopped this request; it is logged for the administrators. Try it again "
                "later.")


class ApiError(exceptions.APIException):
    """An expected refusal: its code, the page's message, and anything else the client may need (`extra`)."""

    def __init__(self, code, detail, **extra):
        self.status_code = CODES[code][0]
        self.extra = extra
        super().__init__(detail, code)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for scripts: see the codes listed with each response.")
    detail = serializers.CharField(help_text="What went wrong and what to do, as the page says it.")


def error(code, detail, **extra):
    return Response({"code": code, "detail": str(detail), **extra}, status=CODES[code][0])


def _first(detail):
    """(code, message, field) of the first error in DRF's nested detail."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            code, message, _ = _first(value)
            return code, message, field
    if isinstance(detail, list):
        return _first(detail[0]) if detail else ("invalid", "Invalid input.", None)
    return getattr(detail, "code", "invalid"), str(detail), None


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        return error("not_found", "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, ApiError):
        return Response({"code": exc.detail.code, "detail": str(exc.detail), **exc.extra}, status=exc.status_code)
    if isinstance(exc, exceptions.APIException):
        code, message, field = _first(exc.detail)
        body = {"code": code, "detail": f"{field}: {message}" if field and field != "non_field_errors" else message}
        response = Response(body, status=exc.status_code)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait))
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        return response
    view = context.get("view")
    log.error("API request failed in %s", type(view).__name__ if view else "?", exc_info=exc)
    return error("server_error", SERVER_ERROR)


def responses(ok, *codes, auth=True):
    """The `responses` of an operation for extend_schema: `ok` ({status: serializer or None}) and one entry
    per HTTP status of `codes`, whose description lists its codes with an example of each."""
    result = dict(ok)
    by_status = {}
    # An Accept header the API cannot answer (it speaks JSON, and files as they are) may come with any request.
    for code in dict.fromkeys((*codes, *(AUTHENTICATION if auth else ("throttled",)), "not_acceptable",
                               "server_error")):
        by_status.setdefault(CODES[code][0], []).append(code)
    for http_status, its_codes in sorted(by_status.items()):
        result[http_status] = OpenApiResponse(
            response=ErrorSerializer,
            description="Codes: " + ", ".join(f"`{c}`" for c in its_codes),
            examples=[OpenApiExample(c, value={"code": c, "detail": CODES[c][1]}, status_codes=[str(http_status)])
                      for c in its_codes],
        )
    return result


def documented_codes(operation):
    """The error codes an operation of the schema lists (for the tests: every answer is documented)."""
    found = set()
    for response in operation.get("responses", {}).values():
        description = response.get("description", "")
        if description.startswith("Codes: "):
            found |= {c.strip("` ") for c in description[len("Codes: "):].split(",")}
    return found


