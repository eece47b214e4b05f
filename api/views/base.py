"""What every API view shares: the error handler, a body size limit, the page class."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.views import APIView

from api.errors import exception_handler
from api.pagination import NewestFirst


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


class LimitedJSONParser(JSONParser):
    """JSON bodies up to TUNEDESK_MAX_UPLOAD_MB; larger ones are refused before parsing."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        size = int((request.META.get("CONTENT_LENGTH") or 0) if request else 0)
        limit = settings.TUNEDESK_MAX_UPLOAD_MB * 1024 * 1024
        if size > limit:
            raise BodyTooLarge(
                _("The body is %(mb).0f MB, over the %(limit)s MB limit; send fewer rows per call.")
                % {"mb": size / 1024 / 1024, "limit": settings.TUNEDESK_MAX_UPLOAD_MB}
            )
        return super().parse(stream, media_type, parser_context)


class ApiView(APIView):
    parser_classes = [LimitedJSONParser]

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
