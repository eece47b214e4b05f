"""Refuse a request body over the upload limit from its Content-Length, before any of it is
read (by the CSRF check, the upload handler or a view): a 2 GB upload to a 1 GB limit is
answered at once, not after the whole file has been streamed to a temporary file."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

#: Paths whose callers read JSON errors (the API's error shape, see api/errors.py).
JSON_PATHS = ("/api/", "/v1/")


class UploadSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit_mb = settings.TUNEDESK_MAX_UPLOAD_MB
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit_mb * 1024 * 1024:
            return self.refuse(request, length, limit_mb)
        return self.get_response(request)

    def refuse(self, request: HttpRequest, length: int, limit_mb: int) -> HttpResponse:
        message = _("The request body is %(size)d MB, over the %(limit)d MB upload limit.") % {
            "size": length // (1024 * 1024),
            "limit": limit_mb,
        }
        hint = _("Split the file, or ask an administrator to raise TUNEDESK_MAX_UPLOAD_MB.")
        if request.path.startswith(JSON_PATHS):
            body = {"error": {"code": "too_large", "message": message, "where": "", "hint": hint}}
            response = HttpResponse(json.dumps(body), status=413, content_type="application/json")
        else:
            response = HttpResponse(
                f"{message} {_('Fix:')} {hint}\n",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        # The body was not read: the connection cannot carry another request.
        response["Connection"] = "close"
        return response
