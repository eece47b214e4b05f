"""Read one huge record: files of one Alpaca row of 12, 24, 48 and 96 MB, as a JSON array and
as JSON Lines, through the same reader an import uses (`jsonio.open_text` + `alpaca.read`).

    .venv/bin/python benchmarks/huge_record.py [--sizes 12 24 48 96] [--repeat 3]

Prints the best of `--repeat` wall times per size and layout and the seconds per MB: reading
is linear when s/MB stays flat as the size doubles (issue 15 measured 0.2/0.7/3.5/37.7 s for
the array layout before Utf8Text.read returned all it was asked for).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from curation.formats import alpaca  # noqa: E402 - after the path is set
from curation.formats.jsonio import open_text  # noqa: E402


def build(path: Path, megabytes: int, layout: str) -> None:
    # Chinese (3 bytes a character) and ASCII, as the real data is: 31 bytes a unit.
    unit = "商品库存查询 check_stock "
    text = unit * (megabytes * 1024 * 1024 // len(unit.encode()))
    row = {"instruction": "总结这段直播记录", "input": text, "output": "好的"}
    body = json.dumps(row, ensure_ascii=False)
    path.write_text(f"[{body}]" if layout == "array" else body + "\n", encoding="utf-8")


def read_seconds(path: Path) -> float:
    start = time.perf_counter()
    with open_text(path) as stream:
        rows = list(alpaca.read(stream))
    elapsed = time.perf_counter() - start
    assert len(rows) == 1 and rows[0].output == "好的"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 24, 48, 96])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, best of {args.repeat}")
    print(f"{'layout':<8}{'MB':>6}{'file MB':>10}{'seconds':>10}{'s/MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("array", "jsonl"):
            for size in args.sizes:
                path = Path(tmp) / f"{layout}-{size}.json"
                build(path, size, layout)
                seconds = min(read_seconds(path) for _ in range(args.repeat))
                file_mb = path.stat().st_size / 1024 / 1024
                print(
                    f"{layout:<8}{size:>6}{file_mb:>10.1f}{seconds:>10.2f}{seconds / file_mb:>8.3f}"
                )
                path.unlink()


if __name__ == "__main__":
    main()
