"""Typed readers for environment variables; the only place that parses them.

Each reader raises ImproperlyConfigured naming the variable, the bad value and how to fix
it, so a typo in a deployment fails at start-up instead of half-working.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean. "
        f"Fix: set {name} to one of 1/0, true/false, yes/no, on/off."
    )


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return default
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(
            f"{name}={raw!r} has an empty entry. Fix: give a comma-separated list, e.g. "
            f"{name}=tunedesk.example.com,localhost"
        )
    return items


def env_int(name: str, default: int, environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a whole number. Fix: set {name} to e.g. {default}."
        ) from None


def env_float(name: str, default: float, environ: Mapping[str, str] = os.environ) -> float:
    raw = environ.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a number. Fix: set {name} to e.g. {default}."
        ) from None


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] = os.environ
) -> str:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not one of {', '.join(choices)}. Fix: set {name} to one of them."
        )
    return value


def env_dir(name: str, default: Path, environ: Mapping[str, str] = os.environ) -> Path:
    raw = environ.get(name)
    path = Path(raw).expanduser() if raw else default
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.exists() and not path.is_dir():
        raise ImproperlyConfigured(
            f"{name}={str(path)!r} exists but is not a directory. Fix: point {name} at a "
            "directory Tunedesk may write to."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImproperlyConfigured(
            f"{name}={str(path)!r} cannot be created ({e.strerror}). Fix: point {name} at a "
            "writable directory."
        ) from None
    return path.resolve()


def database_config(url: str | None, *, sqlite_path: Path, sqlite_timeout: float = 20) -> dict:
    """DATABASE_URL (PostgreSQL or SQLite) or the embedded SQLite file under the data dir.

    `sqlite_timeout`: how long a SQLite writer waits for the write lock before "database is
    locked"."""
    import dj_database_url

    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            "OPTIONS": {
                # WAL lets readers work while the worker writes; IMMEDIATE takes the write
                # lock at BEGIN so two writers queue on busy_timeout instead of deadlocking.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": sqlite_timeout,
            },
            # A file, not memory: tests start real db_worker and server processes that must
            # see the same test database.
            "TEST": {"NAME": str(sqlite_path.with_name("test-" + sqlite_path.name))},
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as e:
        raise ImproperlyConfigured(
            f"DATABASE_URL is not understood ({e}). Fix: use e.g. "
            "postgres://user:password@host:5432/tunedesk or sqlite:////abs/path/tunedesk.sqlite3"
        ) from None
    engine = config.get("ENGINE", "")
    if engine not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured(
            f"DATABASE_URL names the engine {engine!r}; Tunedesk supports PostgreSQL and SQLite. "
            "Fix: use a postgres:// or sqlite:// URL."
        )
    if engine.endswith("sqlite3"):
        config["CONN_MAX_AGE"] = 0
        config.pop("CONN_HEALTH_CHECKS", None)
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": sqlite_timeout,
        }
        name = Path(config["NAME"])
        config["TEST"] = {"NAME": str(name.with_name("test-" + name.name))}
    return config
