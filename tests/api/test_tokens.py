"""The API tokens page: create, replace and revoke your own token."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _key(response) -> str:
    return re.search(r'<code id="new-key">(\w+)</code>', response.content.decode())[1]


def test_a_new_token_is_shown_once_and_works_for_the_api(client_for, project):
    client = client_for("reviewer")
    key = _key(client.post("/account/api-tokens/", {"action": "create"}))
    assert key not in client.get("/account/api-tokens/").content.decode()
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get(f"/api/projects/{project.slug}/").json()["role"] == "reviewer"


def test_replacing_or_revoking_stops_the_old_token(client_for, project):
    client = client_for("reviewer")
    old = _key(client.post("/account/api-tokens/", {"action": "create"}))
    new = _key(client.post("/account/api-tokens/", {"action": "create"}))
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert script.get("/api/projects/").status_code == 401
    client.post("/account/api-tokens/", {"action": "revoke"})
    script.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert script.get("/api/projects/").status_code == 401


def test_the_token_form_needs_the_csrf_token(people):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people["reviewer"])
    assert client.post("/account/api-tokens/", {"action": "create"}).status_code == 403
