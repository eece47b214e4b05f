"""Drive the REST API with concurrent clients and print requests/s and p95 latency for
listing, fetching and saving records.

    .venv/bin/python benchmarks/api.py [--records 100000] [--clients 8] [--seconds 10]
        [--workers 2]

Uses the database in DATABASE_URL (PostgreSQL for the team setup) or else a fresh SQLite
file, in a throwaway data dir; serves the app with gunicorn. Target: p95 under 50 ms for
single-record reads at 100k records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
SETUP = """
import io, json, django
django.setup()
from django.contrib.auth.models import User
from core.tokens import issue_token
from curation import imports
from curation.formats import alpaca
from curation.models import Membership, Project, Role
project, _ = Project.objects.get_or_create(slug="bench", defaults={{"name": "Bench"}})
user, _ = User.objects.get_or_create(username="bench-engineer")
Membership.objects.get_or_create(project=project, user=user, defaults={{"role": Role.ENGINEER}})
rows = json.load(open({data!r}, encoding="utf-8"))
need = {n} - project.records.count()
if need > 0:
    def lines():
        for i in range(need):
            row = dict(rows[i % len(rows)])
            row["instruction"] = f"{{row['instruction']}} #{{i}}"
            yield json.dumps(row, ensure_ascii=False) + "\\n"
    text = io.StringIO("".join(lines()))
    imports.import_rows(project, alpaca.read(text), actor=user, format_name="alpaca")
_, key = issue_token(user, name="benchmark")
ids = list(project.records.order_by("?").values_list("pk", flat=True)[:2000])
print(json.dumps({{"token": key, "ids": ids}}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(name: str, clients: int, seconds: float, call) -> None:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        session = requests.Session()
        mine, bad = [], 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            ok = call(session, n)
            mine.append(time.perf_counter() - t)
            bad += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 1 else 0
    p50 = statistics.median(latencies) * 1000
    rate = len(latencies) / wall
    print(
        f"{name:<7} {rate:8.1f} req/s   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   errors {errors[0]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tunedesk-bench-"))
    env = {
        **os.environ,
        "TUNEDESK_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.setdefault("SECRET_KEY", "bench-" + "x" * 50)
    database = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    t = time.monotonic()
    data = REPO.parent / "shared" / "data" / "alpaca_zh_demo.json"
    out = subprocess.run(
        [py, "-c", SETUP.format(data=str(data), n=args.records)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    setup = json.loads(out.strip().splitlines()[-1])
    print(
        f"{database}, {args.records} records (set up in {time.monotonic() - t:.0f} s), "
        f"gunicorn {args.workers} workers, {args.clients} clients, {args.seconds:.0f} s each"
    )
    port = free_port()
    server = subprocess.Popen(
        [
            py,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
    )
    base = f"http://127.0.0.1:{port}/api"
    headers = {"Authorization": f"Token {setup['token']}"}
    ids = setup["ids"]
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/projects/", headers=headers, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)

        def listing(session, n):
            r = session.get(f"{base}/projects/bench/records/", headers=headers, timeout=30)
            return r.status_code == 200

        def fetch(session, n):
            r = session.get(f"{base}/records/{random.choice(ids)}/", headers=headers, timeout=30)
            return r.status_code == 200

        def save(session, n):
            # Each client edits its own records, so 409s are not part of the figure.
            pk = ids[n + args.clients * random.randrange(len(ids) // args.clients)]
            record = session.get(f"{base}/records/{pk}/", headers=headers, timeout=30).json()
            r = session.put(
                f"{base}/records/{pk}/",
                json={"version": record["version"], "state": {"output": f"改 {time.time()}"}},
                headers=headers,
                timeout=30,
            )
            return r.status_code == 200

        measure("list", args.clients, args.seconds, listing)
        measure("fetch", args.clients, args.seconds, fetch)
        measure("save*", args.clients, args.seconds, save)
        print("* save = GET + PUT with the version check, timed together")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
