"""API tokens: issue, revoke, and find the user a key belongs to.

A key is `td_<8 hex>_<43 url-safe chars>` (256 random bits). The database keeps its first
characters (`prefix`, to find the row and to show the user which key is which) and the
sha256 of the whole key, never the key. Keys made by DRF's old authtoken (40 hex chars) were
moved here as digests by api/migrations/0002 and keep working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotAllowed
from core.models import ApiToken

KEY_START = "td_"
#: The Authorization schemes a key may come with: `Token <key>` (the REST API's), `Bearer <key>`
#: (what OpenAI clients send). Lower case.
SCHEMES = ("token", "bearer")
#: last_used is written at most this often, so a busy script does not write on every request.
LAST_USED_EVERY = timedelta(minutes=1)
#: Longer headers are not keys; refuse them before hashing.
MAX_KEY_LENGTH = 200

#: Sent with `actor`, `action` ("token.create", "token.revoke") and `token` inside the
#: change's transaction. The audit log lives above this layer (curation) and listens.
token_changed = Signal()


def digest_of(key: str) -> str:
    # A fast hash is right here: keys are 256 random bits (migrated ones 160), so there is
    # nothing to brute-force, unlike a password, and a slow hash would cost every request.
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str:
    """What the row is found by and the UI shows: `td_` and 8 hex chars, or a migrated key's
    first 8 (32 of its 160 bits, leaving 128 unknown)."""
    return key[: len(KEY_START) + 8] if key.startswith(KEY_START) else key[:8]


@transaction.atomic
def issue_token(user: AbstractBaseUser, *, name: str, actor=None) -> tuple[ApiToken, str]:
    """A new token for `user`, and its key: the only time the key exists outside the caller."""
    name = name.strip()
    if not name:
        raise InvalidInput(
            _("The token needs a name."),
            where="name",
            hint=_('Name what will use it, e.g. "ci pipeline".'),
        )
    if not user.is_active:
        raise NotAllowed(_("This user is inactive."), hint=_("Activate the user first."))
    key = f"{KEY_START}{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix_of(key), digest=digest_of(key)
    )
    _audit(actor or user, "token.create", token)
    return token, key


@transaction.atomic
def revoke_token(token: ApiToken, actor) -> ApiToken:
    """Stop the token working from now on; the row stays so the audit log can name it."""
    if actor.pk != token.user_id and not actor.has_perm("core.change_apitoken"):
        raise NotAllowed(_("You can only revoke your own tokens."))
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    if changed:
        _audit(actor, "token.revoke", token)
    return token


def user_for_key(key: str) -> AbstractBaseUser | None:
    """The active user whose unrevoked token this key is, or None."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    digest = digest_of(key)
    candidates = ApiToken.objects.select_related("user").filter(
        prefix=prefix_of(key), revoked_at__isnull=True
    )
    for token in candidates:
        if hmac.compare_digest(token.digest, digest):
            if not token.user.is_active:
                return None
            _touch(token)
            return token.user
    return None


def _touch(token: ApiToken) -> None:
    """Note when the token was last used: at most once a LAST_USED_EVERY, and never at the
    cost of the request. On SQLite the write does not wait for a lock another writer holds
    (a long import, say): the request goes on and a later one writes the time."""
    now = timezone.now()
    if token.last_used and now - token.last_used < LAST_USED_EVERY:
        return
    try:
        with _no_lock_wait(), transaction.atomic():
            # The condition repeats in the UPDATE so concurrent requests write once between them.
            ApiToken.objects.filter(
                Q(last_used__isnull=True) | Q(last_used__lte=now - LAST_USED_EVERY), pk=token.pk
            ).update(last_used=now)
    except DatabaseError:
        pass  # busy: last_used is a hint, not worth failing a read for


@contextmanager
def _no_lock_wait() -> Iterator[None]:
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        before = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {before}")


def _audit(actor, action: str, token: ApiToken) -> None:
    token_changed.send(sender=ApiToken, actor=actor, action=action, token=token)
