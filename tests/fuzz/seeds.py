"""Small seed files made from the real data in ../shared/data, one set per readable format.

The first few records of each real file are re-serialised as a JSON array and as JSON Lines,
and converted with the formats' own writers into every other format they fit, so the
mutation fuzzer starts from files shaped like what users really upload.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from pathlib import Path

from curation.formats import FORMATS
from curation.formats.base import FormatError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SEED_RECORDS = 4

# format -> (real file, the format it is read as)
_SOURCES = {
    "alpaca": ("alpaca_zh_demo.json", "alpaca"),
    "sharegpt": ("glaive_toolcall_zh_demo.json", "sharegpt"),
    "sharegpt_messages": ("glaive_toolcall_zh_demo.json", "sharegpt"),
    "openai_chat": ("glaive_toolcall_zh_demo.json", "sharegpt"),
    "trl_preference": ("dpo_zh_demo.json", "sharegpt"),
    "openai_dpo": ("dpo_zh_demo.json", "sharegpt"),
    "messages_preference": ("dpo_zh_demo.json", "sharegpt"),
    "alpaca_preference": ("dpo_zh_demo.json", "sharegpt"),
}
READABLE = sorted(name for name, m in FORMATS.items() if "read" in m.CAPABILITIES)


@cache
def _real_records(name: str, count: int = 40) -> list[dict]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))[:count]


def _rows(fmt: str) -> list:
    """Rows read from the real file behind `fmt` that `fmt`'s writer can hold."""
    file_name, source = _SOURCES[fmt]
    reader = FORMATS[source]
    writer = FORMATS[fmt]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _real_records(file_name))
    fitting = []
    for row in reader.read(io.StringIO(text)):
        try:
            writer.dump(row)
        except FormatError:
            continue  # e.g. a multi-turn chat that Alpaca preference cannot hold
        fitting.append(row)
        if len(fitting) == SEED_RECORDS:
            break
    return fitting


def _as_files(objs: list[dict]) -> dict[str, bytes]:
    array = json.dumps(objs, ensure_ascii=False, indent=2)
    lines = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)
    return {"array": array.encode(), "jsonl": lines.encode()}


def _csv(objs: list[dict], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for obj in objs:
        writer.writerow([obj.get(c, "") for c in columns])
    return out.getvalue().encode()


@cache
def seeds() -> dict[str, dict[str, bytes]]:
    """format -> {seed name -> file bytes}; every seed reads without error."""
    out: dict[str, dict[str, bytes]] = {}
    for fmt in _SOURCES:
        module = FORMATS[fmt]
        objs = [module.dump(row) for row in _rows(fmt)]
        assert len(objs) == SEED_RECORDS, f"only {len(objs)} real rows fit {fmt}"
        out[fmt] = _as_files(objs)
    alpaca = [module_obj for module_obj in json.loads(out["alpaca"]["array"])]
    preference = json.loads(out["alpaca_preference"]["array"])
    out["csv"] = {
        "instruction": _csv(alpaca, ["instruction", "input", "output"]),
        "preference": _csv(preference, ["instruction", "input", "chosen", "rejected"]),
    }
    return out


def seed_list() -> list[tuple[str, str, bytes]]:
    """(format, seed name, bytes) for every seed."""
    return [(fmt, name, data) for fmt, files in seeds().items() for name, data in files.items()]
