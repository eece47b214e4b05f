"""Seconds until a job whose worker died reads as failed through the REST API.

    .venv/bin/python benchmarks/orphans.py [--runs 3]

A throwaway data dir and SQLite database; gunicorn serves the API. For each run a worker
process (the same code the db_worker runs for every job: jobs.services.run_child) runs a
child that sleeps; once the job reads "running" the worker is killed with SIGKILL (its child
dies with it), and GET /api/jobs/<id>/ is polled every 0.2 s until it says "failed". No
worker is alive and nobody opens a page: job_state reports the orphan from its heartbeat
(ORPHAN_AFTER = 30 s, heartbeats every 5 s), so expect 25-30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
SETUP = """
import json, django
django.setup()
from django.contrib.auth.models import User
from core.tokens import issue_token
from curation.models import Membership, Project, Role
project, _ = Project.objects.get_or_create(slug="orphans", defaults={"name": "Orphans"})
user, _ = User.objects.get_or_create(username="orphan-engineer")
Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ENGINEER})
print(json.dumps({"token": issue_token(user, name="benchmark")[1], "project": project.pk}))
"""
WORKER = """
import sys, django
django.setup()
from curation.models import Project
from jobs import services as jobs
job = jobs.create_job("train", project=Project.objects.get(pk={project}), params={{}})
print(job.pk, flush=True)
jobs.run_child(job, [sys.executable, "-c", "import time; time.sleep(600)"])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tunedesk-orphans-"))
    env = {
        **os.environ,
        "TUNEDESK_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.setdefault("SECRET_KEY", "benchmark-only")
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    setup = subprocess.run(
        [python, "-c", SETUP], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    info = json.loads(setup.stdout.strip().splitlines()[-1])
    port = free_port()
    gunicorn = Path(python).with_name("gunicorn")
    web = subprocess.Popen(
        [str(gunicorn), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Token {info['token']}"
    base = f"http://127.0.0.1:{port}/api/jobs"
    figures = []
    try:
        for _ in range(args.runs):
            worker = subprocess.Popen(
                [python, "-c", WORKER.format(project=info["project"])],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            job_id = int(worker.stdout.readline())
            while _status(session, f"{base}/{job_id}/") != "running":
                time.sleep(0.2)
            time.sleep(6)  # a heartbeat or two, as a job that has been running a while
            worker.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            worker.wait()
            while (status := _status(session, f"{base}/{job_id}/")) != "failed":
                assert status in ("running", None), status
                time.sleep(0.2)
            figures.append(round(time.monotonic() - killed, 1))
            print(f"job {job_id}: read failed through the API {figures[-1]} s after the kill")
    finally:
        web.terminate()
        web.wait(20)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps({"seconds_until_failed": figures, "load_average": load}))


def _status(session: requests.Session, url: str) -> str | None:
    try:
        return session.get(url, timeout=30).json()["status"]
    except requests.RequestException:
        return None


if __name__ == "__main__":
    main()
