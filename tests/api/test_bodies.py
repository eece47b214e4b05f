"""Every API write endpoint answers a body it cannot read with the API's JSON error: too deep
(5,000 '['), a number past Python's 4,300 digits, not JSON at all, half a surrogate pair (the
body fuzzer's find: echoed in a validation error, it broke the renderer), and a body over
Django's DATA_UPLOAD_MAX_MEMORY_SIZE (413, as docs/api.md promises)."""

from __future__ import annotations

import json

import pytest
from django.urls import get_resolver

from curation.permissions_table import PK_OF
from tests.security.test_url_walker import fill, walk, world  # noqa: F401 - world is a fixture

pytestmark = pytest.mark.django_db
WRITES = ("post", "put", "patch")


def write_endpoints(objects: dict) -> list[tuple[str, str]]:
    """(method, path) for every write method of every API URL, aimed at real objects."""
    out = []
    for name, parts in walk(get_resolver().url_patterns):
        if not name.startswith("api:") or name == "api:not_found":
            continue
        callback = get_resolver().resolve(fill(parts, _values(name, objects))).func
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        path = fill(parts, _values(name, objects))
        out += [(m, path) for m in WRITES if view is not None and hasattr(view, m)]
    return out


def _values(name: str, objects: dict) -> dict:
    return {
        "slug": objects["record"].project.slug,
        "pk": objects[PK_OF.get(name, "record")].pk,
        "split": "train",
    }


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def engineer_api(api_for, world):  # noqa: F811 - the fixture imported above
    endpoints = write_endpoints(world)
    assert len(endpoints) >= 12, endpoints
    return api_for("engineer"), endpoints


BAD = {
    "5000-deep": "[" * 5000 + "]" * 5000,
    "5000-deep-inside": '{"format": "alpaca", "rows": ' + "[" * 5000 + "]" * 5000 + "}",
    "5000-digits": '{"format": "alpaca", "rows": [{"instruction": ' + "9" * 5000 + "}]}",
    "not-json": "{not json",
    "nan": '{"test_ratio": NaN}',
    "lone-surrogate": '{"format": "alpaca", "rows": [{"instruction": "\\ud800"}], "q": "\\ud800"}',
}


def test_every_write_endpoint_answers_an_unreadable_body_with_a_json_400(engineer_api):
    api, endpoints = engineer_api
    wrong = []
    for kind, body in BAD.items():
        for method, path in endpoints:
            response = getattr(api, method)(path, body, content_type="application/json")
            if response.status_code != 400 or response["Content-Type"] != "application/json":
                wrong.append(f"{kind}: {method.upper()} {path}: {response.status_code}")
            elif response.json()["error"]["code"] != "parse_error":
                wrong.append(f"{kind}: {method.upper()} {path}: {response.json()}")
    assert not wrong, "\n".join(wrong)


def test_a_body_over_djangos_limit_is_the_json_413_of_the_docs(engineer_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    api, endpoints = engineer_api
    body = json.dumps({"format": "alpaca", "rows": [{"instruction": "问" * 20_000}]})
    wrong = []
    for method, path in endpoints:
        response = getattr(api, method)(path, body, content_type="application/json")
        if response.status_code != 413 or response.json()["error"]["code"] != "too_large":
            wrong.append(f"{method.upper()} {path}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
