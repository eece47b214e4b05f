"""Replay: general instruction rows mixed into a task's training rows, so the tuned model
keeps answering general questions in text (see README.md here for the sets and licences).

Imports nothing from Django: the training child (`training.entry`) mixes the rows.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path

SETS_DIR = Path(__file__).parent
MAX_SHARE = 0.5


class ReplayError(ValueError):
    pass


def set_path(name: str) -> Path:
    """The file of a shipped replay set (`<name>.jsonl` beside this module)."""
    path = SETS_DIR / f"{name}.jsonl"
    if not name or "/" in name or "\\" in name or not path.is_file():
        known = sorted(p.stem for p in SETS_DIR.glob("*.jsonl"))
        raise ReplayError(f"No replay set {name!r}. Fix: use one of {known}.")
    return path


def load_set(name: str) -> tuple[list[dict], str]:
    """(rows, sha256 of the file) of a shipped replay set."""
    raw = set_path(name).read_bytes()
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    return rows, hashlib.sha256(raw).hexdigest()


def replay_count(task_rows: int, share: float) -> int:
    """General rows to add so that they are `share` of all rows trained on."""
    if not 0 <= share <= MAX_SHARE:
        raise ReplayError(f"replay share {share!r} is not in [0, {MAX_SHARE}].")
    return round(task_rows * share / (1 - share)) if share else 0


def mix(
    task_rows: list[dict], general: list[dict], *, share: float, seed: int = 0
) -> tuple[list[dict], dict]:
    """The task rows followed by general rows making up `share` of the result, and a record of
    what was mixed (for the manifest).

    General rows are drawn without replacement, the same number from each language (`lang`)
    where the set has enough, so Chinese and English stay balanced; a set smaller than asked
    gives all it has and the record says the share reached.
    """
    wanted = replay_count(len(task_rows), share)
    by_lang: dict[str, list[dict]] = {}
    for row in general:
        by_lang.setdefault(str(row.get("lang") or "?"), []).append(row)
    rng = random.Random(seed)
    pools = {lang: rng.sample(rows, len(rows)) for lang, rows in sorted(by_lang.items())}
    taken: list[dict] = []
    while len(taken) < wanted and any(pools.values()):
        for lang in sorted(pools):  # one from each language in turn
            if pools[lang] and len(taken) < wanted:
                taken.append(pools[lang].pop())
    rows = [*task_rows, *(_training_row(r) for r in taken)]
    record = {
        "share": share,
        "rows": len(taken),
        "task_rows": len(task_rows),
        "share_reached": round(len(taken) / len(rows), 4) if rows else 0.0,
        "by_lang": dict(sorted(Counter(str(r.get("lang") or "?") for r in taken).items())),
        "seed": seed,
    }
    return rows, record


def _training_row(row: dict) -> dict:
    """A replay row in a shape training.entry.sft_example reads (Alpaca or chat messages)."""
    keep = ("messages", "tools", "instruction", "input", "output", "system", "history")
    return {k: row[k] for k in keep if k in row}
