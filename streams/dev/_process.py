"""A child process that can never outlive us.

Dev services are started in their own process group (so a signal reaches any
children they spawn), with their output in a temporary log file (a pipe nobody
reads would fill up and block them), and are killed on interpreter exit. On
Linux the child also gets SIGKILL when its parent dies, which covers the cases
``atexit`` cannot (``kill -9`` of the test run, an unhandled SIGTERM).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["ManagedProcess"]

_PR_SET_PDEATHSIG = 1
_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: ask Linux for SIGKILL on parent death."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@contextlib.contextmanager
def _unlink_on_error(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        proc.kill()


class ManagedProcess:
    """One running child with a log file, a polite stop and a hard kill.

    Start it from the thread that will live as long as it (normally the main
    thread): the parent-death signal fires when the *thread* that forked exits.
    """

    def __init__(self, argv: Sequence[str], *, name: str) -> None:
        self._name = name
        fd, log_path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log")
        self._log = Path(log_path)
        with os.fdopen(fd, "wb") as log, _unlink_on_error(self._log):
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only async-signal-safe work
            )
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """Exit status once it has exited, else None."""
        return self._popen.poll()

    def output_tail(self, limit: int = 2_000) -> str:
        """The last ``limit`` characters the child wrote, for error messages."""
        try:
            text = self._log.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:].strip()

    async def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the group, wait up to ``grace_s``, then SIGKILL it."""
        if self._popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                # the thread returns soon after either exit or the SIGKILL below
                await asyncio.wait_for(asyncio.to_thread(self._popen.wait), grace_s)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the group and reap the child; safe to call more than once."""
        if self._popen.poll() is None:
            # only while the leader is unreaped: after that its id may be reused
            self._signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=5)
        _LIVE.discard(self)
        with contextlib.suppress(OSError):
            self._log.unlink()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signum)
