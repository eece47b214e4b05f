"""What every API view shares: the error handler, a body size limit, the page class."""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant
from rest_framework.views import APIView

from api.errors import exception_handler
from api.pagination import NewestFirst
from curation.formats.jsonio import unpaired_surrogate


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


class LimitedJSONParser(JSONParser):
    """JSON bodies up to TUNEDESK_MAX_UPLOAD_MB; larger ones are refused before parsing.

    (DRF reads a JSON body through request.body, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    applies first: api/errors.py answers that with the same 413.) A body nested too deeply,
    or with a number too long to read, is a 400 that says so, not a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        size = int((request.META.get("CONTENT_LENGTH") or 0) if request else 0)
        limit = settings.TUNEDESK_MAX_UPLOAD_MB * 1024 * 1024
        if size > limit:
            raise BodyTooLarge(
                _("The body is %(mb).0f MB, over the %(limit)s MB limit; send fewer rows per call.")
                % {"mb": size / 1024 / 1024, "limit": settings.TUNEDESK_MAX_UPLOAD_MB}
            )
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(text, parse_constant=strict_constant)
        except RecursionError:
            raise exceptions.ParseError(
                _("The JSON body nests arrays or objects too deeply to read.")
            ) from None
        except json.JSONDecodeError as e:
            raise exceptions.ParseError(
                _("The body is not valid JSON: %(e)s.") % {"e": e}
            ) from None
        except ValueError as e:  # a number past sys.get_int_max_str_digits(), bad encoding
            message = str(e).split(";")[0]
            raise exceptions.ParseError(
                _("The body cannot be read: %(e)s.") % {"e": message}
            ) from None
        if bad := unpaired_surrogate(text, data):
            # Not Unicode: it could be neither stored nor echoed back in an error message.
            raise exceptions.ParseError(
                _("The body holds the escape \\u%(code)04x, half of a surrogate pair.")
                % {"code": ord(bad[0])}
            )
        return data


class ApiView(APIView):
    parser_classes = [LimitedJSONParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A write's body is read before the view runs, so an unreadable one is a 400 on every
        # endpoint, also on those that take no fields (cancel, submit...).
        if request.method in ("POST", "PUT", "PATCH"):
            request.data  # noqa: B018 - parsing is the point

    def get_exception_handler(self):
        return exception_handler

    def paginate(self, queryset, serializer_class):
        pager = NewestFirst()
        page = pager.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context={"request": self.request}).data
        return pager.get_paginated_response(data)

    def body(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
