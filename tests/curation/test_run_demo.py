"""`run_demo` starts the worker again when it dies, and stops when it cannot run at all."""

from __future__ import annotations

import io
import sys

from django.core.management import call_command

from curation.management.commands import run_demo


def test_a_worker_that_dies_is_started_again(monkeypatch, tmp_path):
    starts = tmp_path / "starts"
    worker = (
        "import pathlib, sys, time; p = pathlib.Path(sys.argv[1]); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); "
        "sys.exit(1) if len(p.read_text()) < 3 else time.sleep(60)"
    )
    monkeypatch.setattr(
        run_demo, "worker_command", lambda: [sys.executable, "-c", worker, str(starts)]
    )
    # The web server lives 6 s; the third worker stays up, so the demo runs until then.
    web = [sys.executable, "-c", "import time; time.sleep(6)"]
    monkeypatch.setattr(run_demo, "web_command", lambda host, port: web)
    err = io.StringIO()
    call_command("run_demo", stdout=io.StringIO(), stderr=err)
    assert starts.read_text() == "xxx"
    assert err.getvalue().count("starting it again") == 2


def test_a_worker_that_cannot_run_stops_the_demo(monkeypatch):
    monkeypatch.setattr(
        run_demo, "worker_command", lambda: [sys.executable, "-c", "raise SystemExit(3)"]
    )
    monkeypatch.setattr(
        run_demo,
        "web_command",
        lambda host, port: [sys.executable, "-c", "import time; time.sleep(60)"],
    )
    err = io.StringIO()
    call_command("run_demo", stdout=io.StringIO(), stderr=err)
    assert "died 6 times" in err.getvalue()
