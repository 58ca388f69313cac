"""A liveness signal that fails when the worker's event loop lags.

A worker whose event loop is stuck (a sync tool called on the loop by mistake,
a CPU-bound handler, a pathological record) looks healthy from outside: the
consumer group's heartbeats come from Faust's consumer thread and ``/metrics``
is served from a thread of its own, so both stay green while no call, result or
cancellation moves. :class:`LoopLagMonitor` ticks on the loop and measures how
late each tick wakes; ``/healthz`` (served with ``/metrics``, from the server's
thread) answers 503 once the lag passes ``TOOLFORMER_MAX_LOOP_LAG_S``. A loop
that stopped ticking altogether counts as lagging by how overdue its next tick
is, so a loop blocked for good fails the check too.

The gauges ``toolformer_event_loop_lag_seconds`` and
``toolformer_zombie_tool_threads`` (threads still running a sync tool whose
call ended, see ``agents/executor/threads.py``) are registered with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

__all__ = ["HealthCheck", "LoopLagMonitor", "serve_with_health"]

HealthCheck = Callable[[], tuple[bool, str]]
_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LoopLagMonitor:
    """Measures the event loop's lag every ``interval_s``; unhealthy past ``max_lag_s``."""

    def __init__(self, registry: CollectorRegistry, *, max_lag_s: float,
                 interval_s: float = 0.25,
                 zombie_threads: Callable[[], int] | None = None) -> None:
        self.max_lag_s = max_lag_s
        self.interval_s = interval_s
        self._measured_s = 0.0
        self._last_tick = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        Gauge("toolformer_event_loop_lag_seconds",
              "How late the worker's event loop runs a timer; /healthz fails past "
              "TOOLFORMER_MAX_LOOP_LAG_S", registry=registry).set_function(self.lag_s)
        if zombie_threads is not None:
            Gauge("toolformer_zombie_tool_threads",
                  "Threads still running a sync tool whose call timed out or was cancelled "
                  "(threads cannot be stopped)", registry=registry).set_function(zombie_threads)

    def start(self) -> None:
        """Start ticking on the running loop."""
        self._last_tick = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def lag_s(self) -> float:
        """The loop's lag now, from any thread: the last tick's, or how overdue the next is."""
        overdue = time.monotonic() - self._last_tick - self.interval_s
        return max(self._measured_s, overdue, 0.0)

    def check(self) -> tuple[bool, str]:
        """``(healthy, why)`` for ``/healthz``."""
        lag = self.lag_s()
        if lag > self.max_lag_s:
            return False, (f"event loop lag {lag:.3f}s is over the limit of {self.max_lag_s:g}s "
                           "(TOOLFORMER_MAX_LOOP_LAG_S)\n")
        return True, f"ok: event loop lag {lag:.3f}s\n"

    async def _tick(self) -> None:
        while True:
            due = time.monotonic() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            self._measured_s = max(0.0, now - due)
            self._last_tick = now


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood the log."""


def serve_with_health(registry: CollectorRegistry, port: int, host: str,
                      health: HealthCheck) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/healthz`` from ``health`` (200 or 503) and ``registry`` on every other path,
    as prometheus-client's ``start_http_server`` does, from a daemon thread."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            healthy, text = health()
            start_response("200 OK" if healthy else "503 Service Unavailable",
                           [("Content-Type", "text/plain; charset=utf-8")])
            return [text.encode()]
        served: Iterable[bytes] = metrics(environ, start_response)
        return served

    class Server(ThreadingWSGIServer):
        address_family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]

    server = make_server(host, port, app, Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="toolformer-metrics",
                              daemon=True)
    thread.start()
    return server, thread
