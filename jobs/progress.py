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


class PhasedProgress(ProgressWriter):
    """A progress writer for a job that runs in phases (a comparison: load, test, probe... per
    contender): each line carries overall done/total, and the
    phase that runs with its own done/total and an ETA from that phase's own pace (no ETA
    until it has one: the first answers of a batch arrive after the model load and the first
    prefill, and an ETA drawn from them would be far off). `plan`, the (phase, units) still
    to come in order, gives eta_total_s once every phase left has a pace (the second
    contender's phases take the first's)."""

    MIN_DONE, MIN_SECONDS = 2, 3.0

    def __init__(self, workdir: Path, plan: list[tuple[str, int]]) -> None:
        super().__init__(workdir, total=sum(units for _, units in plan))
        self.plan = list(plan)
        self.figures: dict[str, Any] = {}
        self.phase_started = self.started
        self.phase_done = 0
        self.phase_total = 0
        #: seconds per unit of each finished phase, by phase name (an ETA for the next
        #: contender's phases of the same kind)
        self.pace: dict[str, float] = {}

    def phase(self, name: str, total: int = 0, *, extra: bool = False, **figures: Any) -> None:
        """Start phase `name` of `total` answers: the next of that name in the plan, or, with
        `extra`, one the plan did not foresee (its answers are added to the total)."""
        if self.phase_done and self.figures.get("phase") not in (None, "load"):
            elapsed = time.perf_counter() - self.phase_started
            self.pace[self.figures["phase"]] = elapsed / self.phase_done
        self.figures = {"phase": name, **figures}
        planned = [n for n, _ in self.plan]
        if extra:
            self.total += total
        elif name in planned:  # phases planned but skipped (a cached probe) drop out
            del self.plan[: planned.index(name) + 1]
        self.phase_started = time.perf_counter()
        self.phase_done, self.phase_total = 0, total
        self._write()

    def advance(self, n: int = 1, **figures: Any) -> None:
        self.done += n
        self.phase_done += n
        self.figures |= figures
        self._write()

    def eta(self) -> float | None:
        left = self.phase_total - self.phase_done
        elapsed = time.perf_counter() - self.phase_started
        if left <= 0:
            return 0.0
        if self.phase_done >= self.MIN_DONE and elapsed >= self.MIN_SECONDS:
            return elapsed / self.phase_done * left
        pace = self.pace.get(self.figures.get("phase", ""))
        return pace * left if pace else None

    def eta_total(self) -> float | None:
        eta = self.eta()
        later = [self.pace.get(name) for name, units in self.plan if units]
        if eta is None or None in later:
            return None
        return eta + sum(self.pace[name] * units for name, units in self.plan if units)

    def _write(self) -> None:
        eta, eta_total = self.eta(), self.eta_total()
        self.write(
            done=self.done,
            total=self.total,
            elapsed_s=round(self.elapsed_s, 1),
            **self.figures,
            phase_done=self.phase_done,
            phase_total=self.phase_total,
            eta_s=round(eta, 1) if eta is not None else None,
            eta_total_s=round(eta_total, 1) if eta_total is not None else None,
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
