"""Uploads through the browser: names that cannot break the folder, a preview that never
parses a huge row in the request, large imports as worker jobs (no thread in the web
process), the size limit refused unread, and the sweep that cleans up."""

from __future__ import annotations

import io
import json
import os
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse

from config.limits import UploadSizeLimitMiddleware
from curation import imports, uploads
from curation.models import Record
from jobs.models import Job

pytestmark = pytest.mark.django_db

ROWS = b"".join(b'{"instruction": "q%d", "output": "a"}\n' % i for i in range(50))


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.UPLOAD_DIR = tmp_path / "uploads"
    settings.JOBS_DIR = tmp_path / "jobs"
    return tmp_path


def upload(client, project, name: str, data: bytes, **fields):
    url = reverse("curation:data_import", args=[project.slug])
    return client.post(url, {"file": SimpleUploadedFile(name, data), **fields})


def confirm(client, project, token: str):
    return client.post(reverse("curation:data_import_confirm", args=[project.slug, token]))


@pytest.mark.parametrize(
    "name",
    ["state.json", "state.json.tmp", "é" * 150 + ".jsonl", "../../etc/passwd.jsonl", ""],
)
def test_no_file_name_breaks_or_hijacks_the_upload(client_for, project, data_dir, name):
    client = client_for("engineer")
    response = upload(client, project, name or "x", ROWS)
    assert response.status_code == 200, response.content.decode()[:500]
    token = response.context["token"]
    folder = data_dir / "uploads" / project.slug / token
    state = json.loads((folder / "state.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == ["state.json", state["file"]]
    assert state["file"] in ("upload", "upload.json", "upload.jsonl", "upload.tmp")
    assert state["user"]
    assert "/" not in state["name"] and len(state["name"]) <= uploads.NAME_CHARS
    assert confirm(client, project, token).context["state"]["report"]["imported"] == 50
    assert project.records.count() == 50


def test_a_huge_first_row_is_not_parsed_in_the_request(client_for, project, monkeypatch):
    monkeypatch.setattr(imports, "PREVIEW_BYTES", 4096)
    parsed = []
    real = imports.rows_and_errors

    def counting(*args, **kwargs):
        for item in real(*args, **kwargs):
            parsed.append(item)
            yield item

    monkeypatch.setattr(imports, "rows_and_errors", counting)
    huge = json.dumps({"instruction": "长" * 50_000, "output": "a"}).encode() + b"\n"
    response = upload(client_for("engineer"), project, "big.jsonl", huge + ROWS)
    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["preview"].rows == [] and response.context["preview"].cut_at == 4096
    assert not response.context["preview"].errors  # the cut is not the file's fault
    assert "larger than that" in page
    assert all(not isinstance(item, imports.Row) for item in parsed)


def test_the_preview_shows_the_rows_before_the_cut(monkeypatch, tmp_path):
    monkeypatch.setattr(imports, "PREVIEW_BYTES", 200)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(ROWS)
    preview = imports.preview_file(path)
    assert 1 <= len(preview.rows) < 20 and not preview.errors and preview.cut_at == 200
    assert imports.preview_file(path, limit=2).cut_at == 0  # two rows fit: no cut


def test_a_large_upload_becomes_a_queued_job_and_no_thread(client_for, project, monkeypatch):
    monkeypatch.setattr(uploads, "BACKGROUND_BYTES", 10)
    client = client_for("engineer")
    token = upload(client, project, "rows.jsonl", ROWS).context["token"]
    threads = threading.active_count()
    state = confirm(client, project, token).context["state"]
    assert threading.active_count() == threads
    job = Job.objects.get()
    assert (job.kind, job.status, job.project) == ("import", "queued", project)
    assert state["state"] == "running" and state["queued"]
    assert "Waiting for a worker" in confirm(client, project, token).content.decode()
    assert Job.objects.count() == 1  # a second click queues nothing more
    assert not project.records.exists()


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_is_imported_by_the_worker(client_for, project, monkeypatch, data_dir):
    from tests.worker import db_worker

    monkeypatch.setattr(uploads, "BACKGROUND_BYTES", 10)
    client = client_for("engineer")
    data = b"".join(b'{"instruction": "q%d", "output": "a"}\n' % i for i in range(5000))
    token = upload(client, project, "rows.jsonl", data).context["token"]
    confirm(client, project, token)
    status_url = reverse("curation:data_import_status", args=[project.slug, token])
    with db_worker(log=data_dir / "worker.log"):
        for _ in range(600):
            state = client.get(status_url).context["state"]
            if state["state"] != "running":
                break
            time.sleep(0.2)
    assert state["state"] == "done", (state, (data_dir / "worker.log").read_text()[-2000:])
    assert state["report"]["imported"] == 5000 and project.records.count() == 5000
    folder = data_dir / "uploads" / project.slug / token
    assert not (folder / "upload.jsonl").exists()  # the file goes once imported


def test_a_failed_import_job_shows_its_error(client_for, project, people):
    client = client_for("engineer")
    token = upload(client, project, "rows.jsonl", ROWS).context["token"]
    folder, state = uploads.upload_state(project, token, people["engineer"])
    job = Job.objects.create(
        kind="import",
        project=project,
        status="failed",
        error="line 2: bad. Fix: it.",
        result={"error": {"message": "line 2: bad.", "hint": "Fix it."}, "report": None},
    )
    uploads.save_state(folder, state | {"job": job.pk})
    page = client.get(
        reverse("curation:data_import_status", args=[project.slug, token])
    ).content.decode()
    assert "Nothing was imported" in page and "line 2: bad." in page


def test_a_body_over_the_limit_is_refused_before_it_is_read(settings):
    settings.TUNEDESK_MAX_UPLOAD_MB = 1

    class Unreadable(io.RawIOBase):
        def read(self, *args):
            raise AssertionError("the body was read")

    for path, kind in [("/p/shop/data/import/", "text/plain"), ("/api/records/", "json")]:
        request = RequestFactory().post(path, data=b"", content_type="multipart/form-data")
        request.META["CONTENT_LENGTH"] = str(2 * 1024 * 1024)
        request._stream = Unreadable()
        response = UploadSizeLimitMiddleware(lambda r: r.POST)(request)
        assert response.status_code == 413
        assert kind in response["Content-Type"]
        assert "over the 1 MB upload limit" in response.content.decode()


def test_a_body_within_the_limit_passes(settings, client_for, project):
    settings.TUNEDESK_MAX_UPLOAD_MB = 1
    assert upload(client_for("engineer"), project, "rows.jsonl", ROWS).status_code == 200


def test_the_sweep_removes_unconfirmed_interrupted_and_finished_uploads(
    client_for, project, data_dir
):
    client = client_for("engineer")
    tokens = [upload(client, project, "rows.jsonl", ROWS).context["token"] for _ in range(4)]
    root = data_dir / "uploads" / project.slug
    unconfirmed, fresh, imported, interrupted = (root / t for t in tokens)
    confirm(client, project, imported.name)
    (interrupted / "state.json").unlink()
    day_ago = time.time() - 25 * 3600
    for folder in (unconfirmed, imported, interrupted):
        os.utime(folder, (day_ago, day_ago))
    assert uploads.sweep_uploads(force=True) == 3
    assert [p.name for p in root.iterdir()] == [fresh.name]
    assert (fresh / "upload.jsonl").exists()


def test_the_sweep_removes_the_file_of_a_finished_import_job(client_for, project, data_dir):
    client = client_for("engineer")
    token = upload(client, project, "rows.jsonl", ROWS).context["token"]
    folder = data_dir / "uploads" / project.slug / token
    state = json.loads((folder / "state.json").read_text())
    job = Job.objects.create(kind="import", project=project, status="cancelled")
    uploads.save_state(folder, state | {"job": job.pk})
    uploads.sweep_uploads(force=True)
    assert folder.exists() and not (folder / "upload.jsonl").exists()
    assert not Record.objects.exists()
