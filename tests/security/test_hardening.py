"""Production headers, login rate limiting and `check --deploy`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

from config.security import LOGIN_FAILURES_PER_ADDRESS, LOGIN_FAILURES_PER_USER

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # Hundreds of logins: a fast hasher, or PBKDF2 alone takes minutes on two cores.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def test_every_page_carries_a_content_security_policy(client):
    csp = client.get("/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp


def _fail(client, username: str, address: str = "10.0.0.1"):
    return client.post("/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=address)


def test_repeated_failed_logins_are_refused_for_a_while(client, make_user):
    make_user("anna")
    for _ in range(LOGIN_FAILURES_PER_USER):
        assert _fail(client, "anna").status_code == 200
    blocked = client.post(
        "/login/", {"username": "anna", "password": "pw-anna"}, REMOTE_ADDR="10.0.0.1"
    )
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0


def test_the_limit_is_per_username_and_address(client, make_user):
    make_user("anna")
    for _ in range(LOGIN_FAILURES_PER_USER):
        _fail(client, "anna")
    elsewhere = client.post(
        "/login/", {"username": "anna", "password": "pw-anna"}, REMOTE_ADDR="10.0.0.2"
    )
    assert elsewhere.status_code == 302
    assert _fail(client, "rita").status_code == 200


def test_a_good_login_clears_the_count(client, make_user):
    make_user("anna")
    for _ in range(LOGIN_FAILURES_PER_USER - 1):
        _fail(client, "anna")
    ok = client.post("/login/", {"username": "anna", "password": "pw-anna"}, REMOTE_ADDR="10.0.0.1")
    assert ok.status_code == 302
    client.logout()
    for _ in range(LOGIN_FAILURES_PER_USER - 1):
        assert _fail(client, "anna").status_code == 200


def test_the_count_is_shared_by_every_process(client, make_user):
    # A second web process shares the database and nothing else: clearing this process's
    # caches and starting a new session is what it looks like.
    from curation.models import LoginThrottle

    make_user("anna")
    for _ in range(LOGIN_FAILURES_PER_USER):
        _fail(client, "anna")
    cache.clear()
    client.cookies.clear()
    assert LoginThrottle.objects.get(key__startswith="u:").failures == LOGIN_FAILURES_PER_USER
    again = client.post(
        "/login/", {"username": "anna", "password": "pw-anna"}, REMOTE_ADDR="10.0.0.1"
    )
    assert again.status_code == 429


# Wrong passwords from a separate web process (its own caches, its own connection), through
# the whole middleware stack.
FAIL_ELSEWHERE = """
import django, sys
django.setup()
from django.test import Client
client = Client()
statuses = [
    client.post("/login/", {"username": "anna", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    .status_code
    for _ in range(int(sys.argv[1]))
]
print(statuses.count(200))  # passwords checked; the rest were refused (429)
"""


@pytest.mark.django_db(transaction=True)
def test_failures_in_other_processes_count_here(client, make_user, settings):
    import subprocess
    import sys

    from tests.worker import test_database_url

    make_user("anna")
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "TUNEDESK_DATA_DIR": str(settings.DATA_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    # Two processes, each below the limit on its own count (the issue: 18 of 30 wrong
    # passwords were checked with a limit of 5 under gunicorn).
    each = LOGIN_FAILURES_PER_USER - 1
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FAIL_ELSEWHERE, str(each)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    checked = [int(p.communicate(timeout=120)[0].split()[-1]) for p in processes]
    assert sum(checked) == LOGIN_FAILURES_PER_USER, checked
    here = client.post(
        "/login/", {"username": "anna", "password": "pw-anna"}, REMOTE_ADDR="10.0.0.1"
    )
    assert here.status_code == 429


def test_the_admin_login_is_limited_and_shares_the_count(client, make_user):
    make_user("emil", is_staff=True)
    for i in range(LOGIN_FAILURES_PER_USER):
        page = "/admin/login/" if i % 2 else "/login/"
        assert _fail_at(client, page, "emil").status_code == 200
    blocked = client.post(
        "/admin/login/", {"username": "emil", "password": "pw-emil"}, REMOTE_ADDR="10.0.0.1"
    )
    assert blocked.status_code == 429


def test_the_admin_login_lets_a_staff_user_in_below_the_limit(client, make_user):
    make_user("emil", is_staff=True)
    _fail_at(client, "/admin/login/", "emil")
    ok = client.post(
        "/admin/login/", {"username": "emil", "password": "pw-emil"}, REMOTE_ADDR="10.0.0.1"
    )
    assert ok.status_code == 302


def test_a_busy_address_does_not_lock_out_another_users_correct_password(client, make_user):
    # A password spray through one proxy: many usernames, a few guesses each, far past the
    # address's ceiling.
    make_user("rita")
    refused = 0
    for i in range(LOGIN_FAILURES_PER_ADDRESS * 5):
        refused += _fail(client, f"guess{i // 3}", "10.0.0.9").status_code == 429
    assert refused > 0  # past the ceiling, a sprayed username gets one guess, not five
    ok = client.post("/login/", {"username": "rita", "password": "pw-rita"}, REMOTE_ADDR="10.0.0.9")
    assert ok.status_code == 302


def _fail_at(client, page: str, username: str, address: str = "10.0.0.1"):
    return client.post(page, {"username": username, "password": "wrong"}, REMOTE_ADDR=address)


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright's event loop; a real
    # deployment has no such variable, so the check runs without it.
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "TUNEDESK_HTTPS": "true",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "DEBUG": "false",
        "TUNEDESK_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_send_hsts_and_secure_cookies(tmp_path):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright's event loop; a real
    # deployment has no such variable, so the check runs without it.
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "TUNEDESK_HTTPS": "true",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "TUNEDESK_DATA_DIR": str(tmp_path),
    }
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split() == ["31536000", "True", "True"], out.stderr
