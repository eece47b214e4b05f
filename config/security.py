"""Security middleware: a Content-Security-Policy on every response, and login rate limiting.

Failed logins (on the site's login page and the admin's) are counted in the database
(curation.LoginThrottle), so every web process and host counts the same attempts. They are
counted per (username, client address) and per address: a guesser is slowed down without
locking the real user out from elsewhere, and one busy address (a proxy, an office NAT)
cannot lock out the people behind it (see LoginRateLimitMiddleware).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

#: Strict: no inline script, no eval, no inline style. Templates carry no <script> blocks,
#: on* handlers or style="" attributes; behaviour lives in static/js (listeners on data
#: attributes) and sizes are set through the CSSOM, which CSP allows. htmx runs with
#: allowEval and includeIndicatorStyles off (base.html's htmx-config; its indicator rules are
#: in tunedesk.css). The Swagger page (/api/docs/) is drf-spectacular's split view (external
#: script) with its page style moved to static/css/swagger.css, and the browsable API's code
#: style is static/css/drf-code.css (templates/rest_framework/api.html): no view needs an
#: exception.
#: SVG presentation attributes (fill, stroke in the charts) are not inline styles. 'data:'
#: images and fonts are for the Swagger UI's and the browser's built-in icons.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

LOGIN_FAILURES_PER_USER = 5
LOGIN_FAILURES_PER_ADDRESS = 50
LOGIN_WINDOW_S = 15 * 60


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def _keys(request: HttpRequest) -> tuple[str, str]:
    address = request.META.get("REMOTE_ADDR", "")
    username = request.POST.get("username", "").strip().lower()
    # Hashed: keys must be short, and neither a username nor an IPv6 address is.
    user_key = hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()
    address_key = hashlib.sha256(address.encode()).hexdigest()
    return f"u:{user_key}", f"a:{address_key}"


def _count(key: str, step: int = 1) -> int:
    """Add `step` to the key's attempts in the current window; the new count. Atomic: one
    UPDATE with F(), so attempts racing in several processes are all counted."""
    from curation.models import LoginThrottle

    now = timezone.now()
    with transaction.atomic():
        LoginThrottle.objects.filter(
            window_start__lt=now - timedelta(seconds=LOGIN_WINDOW_S)
        ).delete()
        row, _ = LoginThrottle.objects.get_or_create(key=key, defaults={"window_start": now})
        LoginThrottle.objects.filter(pk=row.pk).update(failures=F("failures") + step)
        return LoginThrottle.objects.values_list("failures", flat=True).get(pk=row.pk)


class LoginRateLimitMiddleware:
    """Login attempts past LOGIN_FAILURES_PER_USER failures for one username from one address
    get 429 for the window. Past LOGIN_FAILURES_PER_ADDRESS failures from one address (many
    usernames tried), each username from it gets one attempt per window instead: a password
    spray stays slow, while the first attempt of anyone else behind that address (a shared
    proxy) still goes through.

    An attempt is counted before the password is checked and given back if it succeeds, so
    attempts sent at once through several processes cannot all slip under the limit."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path not in (
            reverse("login"),
            reverse("admin:login"),
        ):
            return self.get_response(request)
        user_key, address_key = _keys(request)
        by_user, by_address = _count(user_key), _count(address_key)
        if by_user > LOGIN_FAILURES_PER_USER or (
            by_address > LOGIN_FAILURES_PER_ADDRESS and by_user > 1
        ):
            minutes = LOGIN_WINDOW_S // 60
            response = HttpResponse(
                _("Too many failed logins. Try again in %(minutes)s minutes.")
                % {"minutes": minutes},
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(LOGIN_WINDOW_S)
            _count(address_key, -1)  # no password was tried: the address's count stays honest
            return response
        response = self.get_response(request)
        # Both login views answer a failed attempt with the form again (200), a good one
        # with a redirect: a good one clears the username's count and gives back the
        # address's attempt.
        if response.status_code in (301, 302, 303):
            from curation.models import LoginThrottle

            LoginThrottle.objects.filter(key=user_key).delete()
            _count(address_key, -1)
        return response
