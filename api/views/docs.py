"""Schema helpers shared by the views: error responses and the cursor parameters."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from api.serializers import ErrorSerializer

_WHY = {
    400: "Bad input: what, where and how to fix it.",
    401: "No or a revoked token.",
    403: "Your role in this project is too low.",
    404: "No such object, or not in a project you belong to.",
    409: "Someone changed the record since you read it.",
    413: "The body is too large.",
}

ERROR_EXAMPLE = OpenApiExample(
    "Error",
    value={
        "error": {
            "code": "invalid",
            "message": "The arguments must be a JSON object.",
            "where": "arguments",
            "hint": 'Wrap them in { }, e.g. {"product_name": "T恤"}.',
        }
    },
    response_only=True,
    status_codes=["400"],
)


def errors(*codes: int) -> dict:
    """Error responses of an endpoint; 401, 403 and 404 are always possible."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_WHY[code])
        for code in sorted({401, 403, 404, *codes})
    }


CURSOR = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From the `next` link."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="1 to 500 (default 50)."),
]
