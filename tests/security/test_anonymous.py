"""Nothing but login (the site's and the admin's), the language switch and /healthz answers a
visitor who is not signed in."""

from __future__ import annotations

import pytest

from curation.permissions_table import TABLE

pytestmark = pytest.mark.django_db
PUBLIC = {"health", "login", "admin:login"}


def test_the_permission_table_opens_nothing_else_to_anonymous_visitors():
    open_ = {
        name
        for name, methods in TABLE.items()
        for access in methods.values()
        if any(200 <= s < 300 for s in _statuses(access["anonymous"]))
    }
    assert open_ == PUBLIC


def _statuses(status) -> tuple:
    return status if isinstance(status, tuple) else (status,)


def test_the_api_docs_send_an_anonymous_visitor_to_login(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_api_schema_answers_an_anonymous_script_401(client):
    response = client.get("/api/schema/")
    assert response.status_code == 401
    assert b"not_authenticated" in response.content  # rendered as the schema would be


def test_the_api_schema_answers_a_token(client, make_user):
    from core.tokens import issue_token

    key = issue_token(make_user("ci"), name="ci")[1]
    response = client.get("/api/schema/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert b"openapi" in response.content
