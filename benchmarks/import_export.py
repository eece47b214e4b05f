"""Import and export 100k Alpaca rows through the commands, on a fresh SQLite data dir.

    .venv/bin/python benchmarks/import_export.py [--rows 100000]

Builds the file from ../shared/data/alpaca_zh_demo.json (each row numbered, so none is a
duplicate), then times `manage.py import_records` and `manage.py export_records` as
subprocesses (wall time including start-up), and in this process the plain `json` parse and
dump of the same rows. Prints rows/s, the ratio to plain json, and the children's peak RSS.
Targets: import < 4 s, export < 2 s, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO.parent / "shared" / "data" / "alpaca_zh_demo.json"


def build(rows: int, path: Path) -> None:
    base = json.loads(SOURCE.read_text(encoding="utf-8"))
    out = []
    for i in range(rows):
        row = dict(base[i % len(base)])
        row["instruction"] = f"{row['instruction']} #{i}"
        out.append(row)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")


def command(args: list[str], env: dict) -> tuple[float, float, float, dict]:
    """(wall s, CPU s, peak RSS MB, JSON summary) of one manage.py command."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "manage.py", *args, "--json"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            sys.exit(f"{args[0]} failed:\n{err.read()}")
        summary = json.loads(out.read().strip().splitlines()[-1])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.rows, args.build)
        return
    with tempfile.TemporaryDirectory(prefix="tunedesk-bench-") as tmp:
        tmp = Path(tmp)
        data = tmp / "alpaca_100k.json"
        # In a child: a child's peak RSS starts from its parent's size at fork, so this
        # process stays small until the commands have run.
        build_cmd = [sys.executable, __file__, "--build", str(data), "--rows", str(args.rows)]
        subprocess.run(build_cmd, check=True)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # SQLite
        env["TUNEDESK_DATA_DIR"] = str(tmp / "data")
        (tmp / "data").mkdir()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True
        )
        start = time.perf_counter()
        subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, check=True,
                       capture_output=True)  # fmt: skip
        startup = time.perf_counter() - start

        load_import = os.getloadavg()[0]
        import_s, import_cpu, import_rss, imported = command(
            ["import_records", str(data), "--project", "bench", "--create", "--format", "alpaca",
             "--status", "accepted"], env,
        )  # fmt: skip
        out = tmp / "export.jsonl"
        load_export = os.getloadavg()[0]
        export_s, export_cpu, export_rss, exported = command(
            ["export_records", "--project", "bench", "--format", "alpaca", "--out", str(out)], env
        )
        start = time.perf_counter()
        with open(data, encoding="utf-8") as f:
            parsed = json.load(f)
        parse_s = time.perf_counter() - start
        assert len(parsed) == args.rows
        start = time.perf_counter()
        with open(tmp / "plain.jsonl", "w", encoding="utf-8") as f:
            for row in parsed:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        dump_s = time.perf_counter() - start

        assert imported["imported"] == args.rows, imported
        assert exported["counts"]["all"] == args.rows, exported["counts"]
        size_mb = data.stat().st_size / 1e6
        n = args.rows
        print(f"rows: {n} ({size_mb:.0f} MB Alpaca JSON array); SQLite; CPUs: {os.cpu_count()}")
        print(f"django start-up (manage.py check): {startup:.2f} s")
        print(
            f"import_records: {import_s:.2f} s wall incl. start-up ({import_cpu:.2f} s CPU), "
            f"{n / import_s:,.0f} rows/s; "
            f"plain json.load {parse_s:.2f} s -> {import_s / parse_s:.1f}x "
            f"(target < 4 s: {'met' if import_s < 4 else 'NOT met'})"
        )
        print(
            f"export_records: {export_s:.2f} s wall incl. start-up ({export_cpu:.2f} s CPU), "
            f"{n / export_s:,.0f} rows/s; "
            f"plain json.dumps {dump_s:.2f} s -> {export_s / dump_s:.1f}x "
            f"(target < 2 s: {'met' if export_s < 2 else 'NOT met'})"
        )
        print(
            f"peak RSS: import_records {import_rss:.0f} MB, export_records {export_rss:.0f} MB "
            f"(target < 300 MB: {'met' if max(import_rss, export_rss) < 300 else 'NOT met'})"
        )
        print(
            f"load average (1 min): {load_import:.2f} before import_records, "
            f"{load_export:.2f} before export_records, {os.getloadavg()[0]:.2f} at the end"
        )


if __name__ == "__main__":
    main()
