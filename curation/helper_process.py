"""A helper process for the pure half of a large import or export, and how it reports back.

Both sides live here. The helper is a fresh interpreter ("spawn"), not a fork: the web
process and the worker hold threads and database connections a fork would copy. Its target
runs `serve(conn, work)`, which turns any failure into a ("crash", traceback) message; the
parent's `HelperProcess` turns that message, or the helper's death, into `HelperCrashed`.
No Django here: the helper imports this module too.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable


class HelperCrashed(RuntimeError):
    """The helper process died or failed; nothing was written."""


def serve(conn, work: Callable[[], None]) -> None:
    """Run `work` in the helper; a closed connection (the parent gave up) ends it quietly."""
    try:
        work()
    except (BrokenPipeError, EOFError):
        pass
    except BaseException:
        try:
            conn.send(("crash", traceback.format_exc()))
        except (BrokenPipeError, EOFError):
            pass
    finally:
        conn.close()


class HelperProcess:
    """The parent's end: start `target(conn, *args)`, talk to it, stop it on leaving.

    `doing` names the work in errors ("reading rows.json"); `crashed` is the error class.
    """

    def __init__(
        self,
        target: Callable,
        args: tuple,
        *,
        name: str,
        doing: str,
        crashed: type[HelperCrashed] = HelperCrashed,
    ) -> None:
        self.doing, self.crashed = doing, crashed
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=target, args=(theirs, *args), name=name, daemon=True)
        self.process.start()
        theirs.close()

    def send(self, message) -> None:
        try:
            self.conn.send(message)
        except OSError:  # BrokenPipeError, ConnectionResetError: it is gone
            self._died()

    def recv(self):
        """The next message; a ("crash", traceback) message raises."""
        try:
            message = self.conn.recv()
        except (EOFError, OSError):  # OSError: it died in the middle of a message
            self._died()
        if message[0] == "crash":
            raise self.crashed(f"{self.doing} failed unexpectedly:\n{message[1]}")
        return message

    def _died(self):
        self.process.join(5)
        raise self.crashed(
            f"the process {self.doing} stopped (exit code {self.process.exitcode})"
        ) from None

    def close(self, *, wait: bool = False) -> None:
        """Stop the helper: given `wait`, let it finish on its own first."""
        self.conn.close()
        if wait and self.process.is_alive():
            self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()

    def __enter__(self) -> HelperProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close(wait=exc[0] is None)
