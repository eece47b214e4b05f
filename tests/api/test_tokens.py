"""API tokens: stored only as digests, named, several per user, revoked on the page or in the
admin, and moved over from DRF's plain-text authtoken table."""

from __future__ import annotations

import hashlib
import importlib
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from core import tokens
from core.models import ApiToken
from curation.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGE = "/account/api-tokens/"


def _key(response) -> str:
    return re.search(r'<code id="new-key">([\w-]+)</code>', response.content.decode())[1]


def _script(key: str, keyword: str = "Token") -> APIClient:
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return script


def _row_text(token: ApiToken) -> str:
    """Every column of the token's row as the database holds it."""
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [token.pk])
        return " ".join(str(value) for value in cursor.fetchone())


def test_the_key_is_never_stored_only_its_digest(people):
    token, key = tokens.issue_token(people["reviewer"], name="ci pipeline")
    row = _row_text(token)
    assert key not in row
    assert key.split("_")[-1] not in row  # not even the secret part
    assert hashlib.sha256(key.encode()).hexdigest() in row
    assert key.startswith(token.prefix) and len(key) >= 40


def test_both_keywords_authenticate_as_the_token_owner(people, project):
    _, key = tokens.issue_token(people["reviewer"], name="ci")
    for keyword in ("Token", "Bearer"):
        answer = _script(key, keyword).get(f"/api/projects/{project.slug}/")
        assert answer.status_code == 200, keyword
        assert answer.json()["role"] == "reviewer"


def test_two_tokens_of_one_user_both_work_and_revoking_one_spares_the_other(people, project):
    first, first_key = tokens.issue_token(people["engineer"], name="ci")
    _, second_key = tokens.issue_token(people["engineer"], name="notebook")
    assert _script(first_key).get("/api/projects/").status_code == 200
    assert _script(second_key).get("/api/projects/").status_code == 200
    tokens.revoke_token(first, people["engineer"])
    assert _script(first_key).get("/api/projects/").status_code == 401
    assert _script(second_key).get("/api/projects/").status_code == 200


def test_a_revoked_token_gets_401_with_a_hint(people):
    token, key = tokens.issue_token(people["engineer"], name="ci")
    tokens.revoke_token(token, people["engineer"])
    answer = _script(key).get("/api/projects/")
    assert answer.status_code == 401
    assert answer.json()["error"]["hint"]


def test_an_inactive_users_token_gets_401(people):
    _, key = tokens.issue_token(people["engineer"], name="ci")
    people["engineer"].is_active = False
    people["engineer"].save()
    assert _script(key).get("/api/projects/").status_code == 401
    assert tokens.user_for_key(key) is None


@pytest.mark.parametrize(
    "garbage", ["td_", "td_0000000_x", "nope", "x" * 500, "td_deadbeef_" + "a" * 43]
)
def test_unknown_keys_find_no_user(people, garbage):
    tokens.issue_token(people["engineer"], name="ci")
    assert tokens.user_for_key(garbage) is None
    assert _script(garbage).get("/api/projects/").status_code == 401


def test_a_key_with_the_right_prefix_but_wrong_secret_is_refused(people):
    _, key = tokens.issue_token(people["engineer"], name="ci")
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    assert tokens.user_for_key(forged) is None


def test_last_used_is_written_at_most_once_a_minute(people):
    token, key = tokens.issue_token(people["engineer"], name="ci")
    assert token.last_used is None
    tokens.user_for_key(key)
    token.refresh_from_db()
    first = token.last_used
    assert first is not None
    tokens.user_for_key(key)
    token.refresh_from_db()
    assert token.last_used == first  # within the minute: no write
    earlier = timezone.now() - tokens.LAST_USED_EVERY - timedelta(seconds=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used=earlier)
    tokens.user_for_key(key)
    token.refresh_from_db()
    assert token.last_used > earlier


def test_issuing_and_revoking_are_audited(people):
    token, _ = tokens.issue_token(people["engineer"], name="ci")
    tokens.revoke_token(token, people["engineer"])
    tokens.revoke_token(token, people["engineer"])  # a second revoke changes nothing
    events = AuditEvent.objects.filter(action__startswith="token.").order_by("id")
    assert [(e.action, e.actor, e.data["token"]) for e in events] == [
        ("token.create", people["engineer"], token.pk),
        ("token.revoke", people["engineer"], token.pk),
    ]


def test_a_token_needs_a_name(people):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="name"):
        tokens.issue_token(people["engineer"], name="  ")


def test_nobody_revokes_another_users_token(people):
    from core.errors import NotAllowed

    token, key = tokens.issue_token(people["engineer"], name="ci")
    with pytest.raises(NotAllowed):
        tokens.revoke_token(token, people["reviewer"])
    assert tokens.user_for_key(key) == people["engineer"]


# --- the page --------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_works_for_the_api(client_for, project):
    client = client_for("reviewer")
    answer = client.post(PAGE, {"action": "create", "name": "ci pipeline"})
    key = _key(answer)
    later = client.get(PAGE).content.decode()
    assert key not in later
    assert "ci pipeline" in later and ApiToken.objects.get().prefix in later
    assert _script(key).get(f"/api/projects/{project.slug}/").json()["role"] == "reviewer"


def test_the_page_makes_several_tokens_and_revokes_one(client_for, people):
    client = client_for("reviewer")
    old = _key(client.post(PAGE, {"action": "create", "name": "old"}))
    new = _key(client.post(PAGE, {"action": "create", "name": "new"}))
    token = ApiToken.objects.get(name="old")
    answer = client.post(PAGE, {"action": "revoke", "token": token.pk})
    assert answer.status_code == 200
    assert _script(old).get("/api/projects/").status_code == 401
    assert _script(new).get("/api/projects/").status_code == 200
    assert "old" not in [t.name for t in answer.context["tokens"]]


def test_a_token_without_a_name_is_refused_on_the_page(client_for):
    answer = client_for("reviewer").post(PAGE, {"action": "create", "name": ""})
    assert answer.status_code == 400
    assert not ApiToken.objects.exists()


def test_the_page_cannot_revoke_someone_elses_token(client_for, people):
    token, key = tokens.issue_token(people["engineer"], name="ci")
    for value in (token.pk, "x", ""):
        answer = client_for("reviewer").post(PAGE, {"action": "revoke", "token": value})
        assert answer.status_code == 404
    assert tokens.user_for_key(key) == people["engineer"]


def test_the_page_lists_only_your_own_tokens(client_for, people):
    tokens.issue_token(people["engineer"], name="engineers secret pipeline")
    page = client_for("reviewer").get(PAGE).content.decode()
    assert "engineers secret pipeline" not in page


def test_the_token_form_needs_the_csrf_token(people):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people["reviewer"])
    assert client.post(PAGE, {"action": "create", "name": "ci"}).status_code == 403


# --- the admin -------------------------------------------------------------------------


@pytest.fixture
def boss(client, make_user):
    user = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_the_admin_makes_a_token_shows_the_key_once_and_stores_no_key(client, boss, people):
    from django.contrib.sessions.models import Session

    answer = client.post(
        "/admin/core/apitoken/add/", {"user": people["engineer"].pk, "name": "ci robot"}
    )
    assert answer.status_code == 200
    key = _key(answer)
    assert tokens.user_for_key(key) == people["engineer"]
    token = ApiToken.objects.get(name="ci robot")
    assert key not in _row_text(token)
    assert not any(key in s.session_data for s in Session.objects.all())
    for url in ("/admin/core/apitoken/", f"/admin/core/apitoken/{token.pk}/change/"):
        page = client.get(url)
        assert page.status_code == 200 and key not in page.content.decode()
    assert AuditEvent.objects.get(action="token.create").actor == boss


def test_the_admin_searches_and_revokes_tokens(client, boss, people):
    token, key = tokens.issue_token(people["engineer"], name="ci robot")
    listed = client.get("/admin/core/apitoken/", {"q": "robot"})
    assert token in listed.context["cl"].result_list
    client.post(
        "/admin/core/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert tokens.user_for_key(key) is None
    assert AuditEvent.objects.get(action="token.revoke").actor == boss


# --- moving DRF authtoken keys over ---------------------------------------------------


@pytest.fixture
def plaintext_table():
    """authtoken's table as DRF made it, since the app is no longer installed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp NOT NULL, user_id integer NOT NULL)"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS authtoken_token")


def test_the_migration_moves_plaintext_keys_to_digests_and_drops_the_table(people, plaintext_table):
    migration = importlib.import_module("api.migrations.0002_move_authtoken_keys")
    key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    made = timezone.now() - timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, made, people["engineer"].pk],
        )
    assert migration.move_keys(connection, ApiToken) == 1
    token = ApiToken.objects.get()
    assert (token.name, token.user, token.prefix) == ("migrated", people["engineer"], key[:8])
    assert abs(token.created - made) < timedelta(seconds=1)
    assert key not in _row_text(token)
    assert "authtoken_token" not in connection.introspection.table_names()
    assert _script(key).get("/api/projects/").status_code == 200
    assert migration.move_keys(connection, ApiToken) == 0  # no table: nothing to do


@pytest.mark.django_db(transaction=True)
def test_a_request_never_waits_on_the_write_lock_to_note_last_used(people):
    import sqlite3

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's single writer")
    token, key = tokens.issue_token(people["engineer"], name="reader")
    lock = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the lock (a long import, say)
    try:
        assert tokens.user_for_key(key) == people["engineer"]  # waited 20 s, then failed, before
    finally:
        lock.execute("ROLLBACK")
    assert ApiToken.objects.get(pk=token.pk).last_used is None  # a later request writes it
    tokens.user_for_key(key)
    assert ApiToken.objects.get(pk=token.pk).last_used is not None
