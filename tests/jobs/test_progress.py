"""The one progress writer every child uses, and the result file the worker reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from jobs import services as jobs
from jobs.models import Job
from jobs.progress import PROGRESS_FILE, ProgressWriter, write_result

ROOT = Path(__file__).resolve().parent.parent.parent


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_advance_counts_and_estimates_and_keeps_chinese_readable(tmp_path):
    progress = ProgressWriter(tmp_path, total=4, also=(tmp_path / "metrics.jsonl",))
    progress.advance(1, stage="测试")
    progress.write(loss=1.5)
    written = lines(tmp_path / PROGRESS_FILE)
    assert written[0]["done"] == 1 and written[0]["total"] == 4
    assert written[0]["eta_s"] is not None and written[0]["stage"] == "测试"
    assert written[1] == {"loss": 1.5}
    assert "测试" in (tmp_path / PROGRESS_FILE).read_text(encoding="utf-8")
    assert lines(tmp_path / "metrics.jsonl") == written


def test_a_disabled_writer_writes_nothing(tmp_path):
    ProgressWriter(tmp_path, enabled=False).write(done=1)
    assert not (tmp_path / PROGRESS_FILE).exists()


def test_the_children_write_progress_only_through_the_writer():
    """No child keeps its own copy of the writer (three existed: train, draft, compare)."""
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("training", "curation", "jobs")
        for path in (ROOT / package).rglob("*.py")
        if "progress.jsonl" in path.read_text(encoding="utf-8")
        and path.name not in ("progress.py", "services.py")
        and "migrations" not in path.parts
    ]
    children = ("training/entry.py", "training/draft_entry.py", "training/compare_entry.py")
    for child in children:
        text = (ROOT / child).read_text(encoding="utf-8")
        assert "from jobs.progress import" in text, child
        assert "ProgressWriter(" in text or "PhasedProgress(" in text, child
    # A writer of progress lines is defined in jobs/progress.py only.
    for package in ("training", "curation"):
        for path in (ROOT / package).rglob("*.py"):
            assert "(ProgressWriter)" not in path.read_text(encoding="utf-8"), path
    assert all(
        "open(" not in line
        for path in offenders
        for line in (ROOT / path).read_text(encoding="utf-8").splitlines()
        if "progress.jsonl" in line
    ), offenders


@pytest.mark.django_db(transaction=True)
def test_a_child_that_names_its_failure_gives_the_job_that_message(settings, tmp_path):
    settings.JOBS_DIR = tmp_path / "jobs"
    job = jobs.create_job("import", params={})
    code = (
        "import sys; from jobs.progress import write_result; "
        f"write_result({job.workdir!r}, {{'rows': 0}}, error={{'message': 'line 3: bad row.', "
        "'hint': 'Fix line 3.'}); sys.exit(1)"
    )
    job = jobs.run_child(job, [sys.executable, "-c", code], poll_s=0.1)
    assert job.status == Job.Status.FAILED
    assert job.error == "line 3: bad row. Fix line 3."
    assert job.result["error"]["message"] == "line 3: bad row."


def test_write_result_replaces_the_file_whole(tmp_path):
    write_result(tmp_path, {"a": 1})
    write_result(tmp_path, {"b": 2})
    assert json.loads((tmp_path / "result.json").read_text()) == {"b": 2}
    assert not (tmp_path / "result.json.tmp").exists()
