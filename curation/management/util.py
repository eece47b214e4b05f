"""Small helpers shared by the management commands."""

from __future__ import annotations

import json
import sqlite3
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.db.transaction import TransactionManagementError

from core.errors import CurationError
from curation.formats.base import FormatError
from curation.models import Project


def database_hint(error: BaseException) -> str:
    """How to fix a database error, by what the driver said."""
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return (
            "another process holds the database's write lock (a long import?): run the "
            "command again when it is done"
        )
    if "disk is full" in text or "no space" in text:
        return f"free disk space where the database lives ({settings.DATA_DIR}), then run again"
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return (
            "the database file is damaged: restore it from a backup (sqlite3's .recover "
            "can save what is left)"
        )
    return "check DATABASE_URL and that the database server is up, then run again"


def _first_cause(error: BaseException) -> BaseException:
    """The database error that started it: a query in the rolled-back transaction (a clean-up
    step) raises TransactionManagementError, which says nothing of the disk being full."""
    while isinstance(error, TransactionManagementError):
        earlier = error.__cause__ or error.__context__
        if earlier is None:
            break
        error = earlier
    return error


class _LastLine:
    """An OutputWrapper that remembers whether the last thing written was a JSON object."""

    def __init__(self, wrapper):
        self._wrapper = wrapper
        self.json_written = False

    def write(self, msg="", *args, **kwargs):
        text = msg.strip() if isinstance(msg, str) else ""
        self.json_written = text.startswith("{") and text.endswith("}")
        self._wrapper.write(msg, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._wrapper, name)


class JsonCommand(BaseCommand):
    """A command with --json whose last stdout line is a JSON object on every outcome.

    Its own failures write their summary and raise CommandError; whatever else ends it (a
    usage error, a CommandError without a summary, a typed error it did not catch, a
    database that is locked, full or damaged, a bug) still ends stdout with
    {"ok": false, "error": {code, message, hint}}. Typed errors (CurationError, FormatError)
    and database errors become CommandError, with or without --json: a message, no
    traceback."""

    @property
    def stdout(self):
        return self._stdout

    @stdout.setter
    def stdout(self, wrapper):
        self._stdout = _LastLine(wrapper)

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        report = parser.error

        def error(message):
            if self._json_wanted:
                self._json_failure("usage", message, "see --help for the arguments")
            report(message)

        parser.error = error
        return parser

    _json_wanted = False

    def run_from_argv(self, argv):
        self._json_wanted = "--json" in argv
        return super().run_from_argv(argv)

    def execute(self, *args, **options):
        self._json_wanted = self._json_wanted or bool(options.get("json"))
        try:
            return super().execute(*args, **options)
        except (CurationError, FormatError) as e:  # what, where, how to fix: no traceback
            error = e.as_dict() if isinstance(e, CurationError) else None
            hint = error["hint"] if error else e.hint
            self._json_failure(error["code"] if error else "format", e.message, hint)
            raise CommandError(str(e)) from e
        # The import writes rows through the driver's own cursor: its errors are not Django's.
        except (DatabaseError, sqlite3.DatabaseError) as e:
            cause = _first_cause(e)
            hint = database_hint(cause)
            self._json_failure("database", f"the database failed: {cause}", hint)
            raise CommandError(f"The database failed: {cause}. Fix: {hint}.") from e
        except CommandError as e:
            self._json_failure("failed", str(e), "")
            raise
        except Exception as e:
            self._json_failure("internal", f"{type(e).__name__}: {e}", "report this as a bug")
            raise

    def _json_failure(self, code: str, message: str, hint: str) -> None:
        if not self._json_wanted or self.stdout.json_written:
            return
        error = {"code": code, "message": message, "where": "", "hint": hint}
        self.stdout.write(json.dumps({"ok": False, "error": error}, ensure_ascii=False))


def acting_user(username: str | None):
    """The user a command acts as: --user NAME, else the first superuser."""
    users = get_user_model().objects
    user = (
        users.filter(username=username).first()
        if username
        else users.filter(is_superuser=True).first()
    )
    if user is None:
        raise CommandError(
            f"No user {username!r}."
            if username
            else "No acting user: there is no superuser yet."
            " Fix: pass --user NAME of a project engineer."
        )
    return user


def project_by_slug(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        slugs = ", ".join(Project.objects.values_list("slug", flat=True)[:20]) or "none yet"
        raise CommandError(f"No project {slug!r}. Fix: use one of: {slugs}.")
    return project


def wait_for(job, *, poll_s: float = 2.0):
    while True:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(poll_s)
