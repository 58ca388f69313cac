"""A child process that can never outlive us.

Dev services are started in their own process group (so a signal reaches any
children they spawn), with their output in an anonymous temporary file (a pipe
nobody reads would fill up and block them; an unlinked file leaves nothing
behind), and are killed on interpreter exit. On Linux the child also gets
SIGKILL when its parent dies, which covers the cases ``atexit`` cannot
(``kill -9`` of the test run, an unhandled SIGTERM).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence

__all__ = ["ManagedProcess"]

_PR_SET_PDEATHSIG = 1
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# strong references: a child must be killed at exit even if its owner was dropped
_LIVE: set[ManagedProcess] = set()


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: ask Linux for SIGKILL on parent death."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        proc.kill()


class ManagedProcess:
    """One running child with captured output, a polite stop and a hard kill.

    Start it from the thread that will live as long as it (normally the main
    thread): the parent-death signal fires when the *thread* that forked exits.
    """

    def __init__(self, argv: Sequence[str], *, name: str) -> None:
        self._name = name
        self._output = tempfile.TemporaryFile(prefix=f"{name}-")  # noqa: SIM115 - closed in kill()
        try:
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=self._output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only async-signal-safe work
            )
        except BaseException:
            self._output.close()
            raise
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """Exit status once it has exited, else None."""
        return self._popen.poll()

    def output_tail(self, limit: int = 2_000) -> str:
        """The last ``limit`` bytes the child wrote, for error messages."""
        try:
            fd = self._output.fileno()
            size = os.fstat(fd).st_size
            # pread leaves the offset the child shares with us untouched
            data = os.pread(fd, limit, max(size - limit, 0))
        except (OSError, ValueError):
            return ""
        return _ANSI_ESCAPE.sub("", data.decode(errors="replace")).strip()

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
        self._output.close()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signum)
