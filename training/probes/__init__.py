"""Fixed forgetting probes: general questions a tuned model should still answer as before."""

from __future__ import annotations

import json
from pathlib import Path

FIELDS = ("id", "lang", "category", "question", "reference")


class ProbeError(ValueError):
    pass


def load_probe(*, name: str = "general") -> list[dict]:
    """The rows of `training/probes/<name>.jsonl`: id, lang (zh/en), category, question and a
    short reference answer."""
    path = Path(__file__).with_name(f"{name}.jsonl")
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.jsonl"))
        raise ProbeError(f'no probe set "{name}" in {path.parent}. Fix: use one of {known}')
    rows = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = [k for k in FIELDS if not isinstance(row.get(k), str) or not row[k]]
            if missing:
                raise ProbeError(f"{path.name} line {line_no}: {missing} missing or empty")
            rows.append(row)
    return rows
