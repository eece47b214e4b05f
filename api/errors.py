"""One exception handler: every API error body is {"error": {code, message, where, hint}}.

Services raise CurationError (what, where, how to fix) and the formats FormatError; DRF raises
its own exceptions for authentication, parsing and serializer validation. All of them leave
here in the same shape, so a script needs one error path.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import CurationError
from curation.formats.base import FormatError

#: Hints for DRF's own errors, by their code.
HINTS = {
    "not_authenticated": _(
        'Send "Authorization: Token <key>"; create a key on the API tokens page.'
    ),
    "authentication_failed": _("Create a new key on the API tokens page; this one is revoked."),
    "permission_denied": _("Ask an engineer of this project for a higher role."),
    "not_found": _("Check the id or slug; projects you are not a member of are not shown."),
    "method_not_allowed": _("See /api/docs/ for the methods of this endpoint."),
    "parse_error": _("Send a JSON body with Content-Type: application/json."),
    "unsupported_media_type": _("Send Content-Type: application/json."),
    "throttled": _("Wait and try again."),
}


def error_body(code: str, message: str, *, where: str = "", hint: str = "", **extra) -> dict:
    return {"error": {"code": code, "message": message, "where": where, "hint": hint, **extra}}


def _validation(detail, path: str = "") -> tuple[str, str]:
    """The first message in a (nested) serializer error and the field path it belongs to."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                key = ""
            return _validation(value, f"{path}.{key}".strip(".") if key else path)
    if isinstance(detail, list) and detail:
        for i, value in enumerate(detail):
            if value:
                sub = path if isinstance(value, str) or len(detail) == 1 else f"{path}[{i}]"
                return _validation(value, sub)
    return str(detail), path


def exception_handler(exc, context) -> Response | None:
    if isinstance(exc, CurationError):
        set_rollback()
        extra = getattr(exc, "api_extra", {})
        if report := getattr(exc, "report", None):  # imports.ImportFailed
            extra = {**extra, "report": report.as_dict()}
        return Response({"error": {**exc.as_dict(), **extra}}, status=exc.status)
    if isinstance(exc, FormatError):
        set_rollback()
        where = f"line {exc.line}" if exc.line else ""
        return Response(
            error_body("format", exc.message, where=where, hint=exc.hint),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        set_rollback()
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = _("The body is over the %(limit)s KiB a request may send.") % {
            "limit": limit // 1024
        }
        hint = _("Send fewer rows per call, or upload the file as an import.")
        return Response(error_body("too_large", str(message), hint=str(hint)), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500
    set_rollback()
    headers = {}
    if auth := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))
    code = exc.get_codes() if not isinstance(exc.detail, (dict, list)) else "invalid"
    if isinstance(exc, exceptions.ValidationError):
        message, where = _validation(exc.detail)
        body = error_body(
            "invalid",
            message,
            where=where,
            hint=str(_("Fix this field; /api/docs/ shows the request body.")),
            fields=exc.detail,
        )
    else:
        body = error_body(str(code), str(exc.detail), hint=str(HINTS.get(str(code), "")))
    return Response(body, status=exc.status_code, headers=headers)
