"""SQLite, the embedded default, under real use: a 300k-row upload imported by the worker while
16 API clients read and write through gunicorn. Before imports were staged, the import held
the write lock for its whole length: the worker exited with "database is locked" and
requests, plain GETs included, answered HTML 500 after the 20 s busy timeout.

Asserts 0 worker exits and 0 responses >= 500; prints the figures for the closing note
(import seconds, requests served, 5xx, worker exits)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from core.tokens import issue_token
from curation import uploads
from jobs.models import Job
from tests import worker as workers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's single writer"),
]

ROWS = int(os.environ.get("TUNEDESK_LOAD_ROWS", 300_000))
CLIENTS = 16
#: Between two requests of one client, as a person or a script pausing on each answer.
THINK_S = 0.1


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.UPLOAD_DIR = tmp_path / "uploads"
    settings.JOBS_DIR = tmp_path / "jobs"


def alpaca_file(n: int) -> bytes:
    return b"".join(
        b'{"instruction": "\xe9\x97\xae\xe9\xa2\x98 %d", "input": "", "output": "a %d"}\n' % (i, i)
        for i in range(n)
    )


def server(port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "TUNEDESK_DATA_DIR": str(settings.DATA_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    options = "--workers 2 --threads 4 --timeout 120".split()
    return subprocess.Popen(
        [str(gunicorn), "config.wsgi", "--bind", f"127.0.0.1:{port}", *options],
        cwd=workers.REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


class Client(threading.Thread):
    """Reads record pages, the job and projects; every fourth request adds a record."""

    def __init__(self, base: str, key: str, job_id: int, stop: threading.Event, seed: int):
        super().__init__(daemon=True)
        self.base, self.key, self.job_id, self.stop = base, key, job_id, stop
        self.random = random.Random(seed)
        self.statuses: list[int] = []
        self.seconds: list[float] = []
        self.failures: list[str] = []

    def call(self, method: str, path: str, body: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Token {self.key}")
        request.add_header("Content-Type", "application/json")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                self.statuses.append(response.status)
        except urllib.error.HTTPError as e:
            self.statuses.append(e.code)
            if e.code >= 500:
                self.failures.append(f"{method} {path}: {e.code} {e.read()[:300]!r}")
        except OSError as e:
            self.failures.append(f"{method} {path}: {e}")
        self.seconds.append(time.monotonic() - started)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 4 == 0:
                row = {"instruction": f"client {self.name} {n}", "output": "ok"}
                self.call("POST", "/api/projects/shop/records/", {"format": "alpaca", "row": row})
            elif n % 4 == 1:
                self.call("GET", f"/api/jobs/{self.job_id}/")
            else:
                size = self.random.choice((10, 50))
                self.call("GET", f"/api/projects/shop/records/?page_size={size}")
            self.stop.wait(THINK_S)


def wait_until(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_300k_row_import_keeps_the_site_and_the_worker_working(
    client_for, project, people, free_tcp_port, tmp_path, monkeypatch
):
    monkeypatch.setattr(uploads, "BACKGROUND_BYTES", 1024)
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    url = reverse("curation:data_import", args=[project.slug])
    page = client_for("engineer").post(
        url, {"file": SimpleUploadedFile("big.jsonl", alpaca_file(ROWS))}
    )
    token = page.context["token"]
    client_for("engineer").post(reverse("curation:data_import_confirm", args=[project.slug, token]))
    job = Job.objects.get(kind="import")
    keys = [issue_token(people["engineer"], name=f"client {i}")[1] for i in range(CLIENTS)]
    web = server(free_tcp_port, web_log)
    base = f"http://127.0.0.1:{free_tcp_port}"
    stop = threading.Event()
    clients = [Client(base, keys[i], job.pk, stop, seed=i) for i in range(CLIENTS)]
    worker_exits = 0
    try:
        wait_until(lambda: _answers(base + "/healthz"), timeout=120, what="gunicorn")
        for client in clients:
            client.start()
        with workers.db_worker(log=worker_log) as worker:
            wait_until(
                lambda: Job.objects.get(pk=job.pk).is_finished or worker.poll() is not None,
                timeout=600,
                what="the import job",
            )
            worker_exits += worker.poll() is not None
            stop.set()
            for client in clients:
                client.join(70)
            worker_exits += worker.poll() is not None
    finally:
        stop.set()
        web.terminate()
        web.wait(20)
    job = Job.objects.get(pk=job.pk)
    statuses = [s for c in clients for s in c.statuses]
    failures = [f for c in clients for f in c.failures]
    latencies = sorted(t for c in clients for t in c.seconds)
    seconds = (job.finished_at - job.started_at).total_seconds() if job.finished_at else None
    published = re.search(r"published \d+ staged rows in ([\d.]+) s", job.log_tail)
    figures = {
        "rows": ROWS,
        "publish_seconds": float(published.group(1)) if published else None,
        "import_seconds": round(seconds, 1) if seconds else None,
        "requests_served": len(statuses),
        "writes_served": sum(1 for c in clients for s in c.statuses if s == 201),
        "5xx": sum(1 for s in statuses if s >= 500),
        "failed_requests": len(failures),
        "p50_s": round(latencies[len(latencies) // 2], 2) if latencies else None,
        "max_s": round(latencies[-1], 2) if latencies else None,
        "worker_exits": worker_exits,
        "load_average": os.getloadavg(),
    }
    print("\nimport under load:", json.dumps(figures))
    assert job.status == Job.Status.SUCCEEDED, (job.error, worker_log.read_text()[-3000:])
    assert job.result["report"]["imported"] == ROWS
    assert worker_exits == 0, worker_log.read_text()[-3000:]
    assert not failures, failures[:5]
    assert figures["5xx"] == 0
    assert figures["requests_served"] > CLIENTS and figures["writes_served"] > 0
    assert project.records.count() == ROWS + figures["writes_served"]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False
