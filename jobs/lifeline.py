"""A job's processes never outlive the worker, and a stopped job leaves none behind.

Imports nothing from Django: the training child calls `die_with_parent` on itself when it
runs under `torchrun`, whose workers start in sessions of their own (so no process-group
signal reaches them) and are not the worker's children.
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (a Popen preexec_fn)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def rank_dies_with_launcher() -> None:
    """A rank started by `torchrun` sets this on itself: it dies with its launcher, which dies
    with the worker. A rank whose launcher is already gone (adopted by init) stops at once."""
    die_with_parent()
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # the command name is in parentheses and may hold spaces: the parent pid follows it
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid` and every process below it; return the pids signalled."""
    pids = [*descendants(pid), pid]
    for each in pids:
        try:
            os.kill(each, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids
