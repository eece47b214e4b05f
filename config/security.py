"""Security middleware: a Content-Security-Policy on every response, and login rate limiting.

Failed logins are counted in the cache per (username, client address) and per address, so
a guesser is slowed down without locking the real user out from elsewhere. With several
web processes the cache must be shared (CACHES, e.g. the database or Redis cache) for the
limit to hold across them; the default local-memory cache counts per process.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
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
    # Hashed: cache keys must be short and ASCII, and a username is neither necessarily.
    user_key = hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()
    return f"login-fail:u:{user_key}", f"login-fail:a:{address}"


def _bump(key: str) -> None:
    if not cache.add(key, 1, LOGIN_WINDOW_S):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, LOGIN_WINDOW_S)


class LoginRateLimitMiddleware:
    """After LOGIN_FAILURES_PER_USER failed logins for one username from one address (or
    LOGIN_FAILURES_PER_ADDRESS from one address), further attempts get 429 for the window."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != reverse(settings.LOGIN_URL):
            return self.get_response(request)
        user_key, address_key = _keys(request)
        if (cache.get(user_key) or 0) >= LOGIN_FAILURES_PER_USER or (
            cache.get(address_key) or 0
        ) >= LOGIN_FAILURES_PER_ADDRESS:
            minutes = LOGIN_WINDOW_S // 60
            response = HttpResponse(
                _("Too many failed logins. Try again in %(minutes)s minutes.")
                % {"minutes": minutes},
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(LOGIN_WINDOW_S)
            return response
        response = self.get_response(request)
        # The login view answers a failed attempt with the form again (200), a good one
        # with a redirect.
        if response.status_code == 200:
            _bump(user_key)
            _bump(address_key)
        elif response.status_code in (301, 302, 303):
            cache.delete(user_key)
        return response
