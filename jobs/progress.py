"""The one progress writer of every job's child (training, drafting, comparison, import).

Imports nothing from Django or the apps: children that run without Django (under
`accelerate launch`, say) use it as they are. The worker reads the lines back
(`jobs.services.run_child`): one JSON object per line, `done` and `total` for the bar, any
other figures as they are (loss, tokens_per_s, stage...). A line is written whole, with its
newline, in one call, so the reader never folds a half line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.jsonl"
RESULT_FILE = "result.json"


class ProgressWriter:
    """Append progress lines to `workdir/progress.jsonl` (and to any `also` files).

    `write(**figures)` appends the figures as they are; `advance(n, **figures)` counts `n`
    more items done of `total` and adds elapsed_s and eta_s. `enabled=False` (a non-main
    process of a multi-process run) writes nothing.
    """

    def __init__(
        self, workdir: Path, *, total: int = 0, also: tuple[Path, ...] = (), enabled: bool = True
    ) -> None:
        self.paths = [Path(workdir) / PROGRESS_FILE, *map(Path, also)]
        self.total = total
        self.done = 0
        self.enabled = enabled
        self.started = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def eta_s(self, done: int, total: int) -> float | None:
        """Seconds left at the pace so far; None until something is done."""
        if done <= 0 or total <= done:
            return None if done <= 0 else 0.0
        return self.elapsed_s / done * (total - done)

    def write(self, **figures: Any) -> None:
        if not self.enabled:
            return
        line = json.dumps(figures, ensure_ascii=False) + "\n"
        for path in self.paths:
            with path.open("a", encoding="utf-8") as f:
                f.write(line)

    def advance(self, n: int = 1, **figures: Any) -> None:
        self.done += n
        eta = self.eta_s(self.done, self.total)
        self.write(
            done=self.done,
            total=self.total,
            elapsed_s=round(self.elapsed_s, 1),
            eta_s=round(eta, 1) if eta is not None else None,
            **figures,
        )


def write_result(workdir: Path, result: dict | None = None, *, error: dict | None = None) -> None:
    """Write the child's result.json in one rename, so the worker never reads half of it.
    A child that fails for a reason it can name passes `error` ({"message", "hint", ...})
    and exits non-zero: the job's error then says that, not the log's last line."""
    data = dict(result or {})
    if error is not None:
        data["error"] = error
    path = Path(workdir) / RESULT_FILE
    tmp = path.with_name(RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
