"""The console's moving parts: the topic feed, the probes on their clocks, and the hub.

:class:`ConsoleService` owns the state the page shows. Sessions that changed
are sent at most every ``flush_s`` (a busy session is one message per flush,
not one per event); the group, limits and running calls are read on their
own clocks and sent when they change. A probe that fails shows its error on
the page and is tried again on its next tick; nothing here stops the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.console.feed import TopicFeed
from async_toolformer.streams.ops.console.hub import EventHub
from async_toolformer.streams.ops.console.probes import LimitsProbe, RunningProbe, read_group
from async_toolformer.streams.ops.console.state import ConsoleState
from async_toolformer.streams.redis.client import redis_client, redis_security_options
from async_toolformer.streams.redis.ratelimit import load_limits
from async_toolformer.streams.worker.settings import Settings

__all__ = ["ConsoleOptions", "ConsoleService"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """How the console reads; where it serves is the server's (``serve_console``)."""

    start_offset: int | None = None  # None: from the end of every partition
    metrics_urls: tuple[str, ...] = ()
    limits_file: Path | None = None
    group_id: str | None = None  # None: the workers' (settings.group_id)
    flush_s: float = 0.25
    group_every_s: float = 3.0
    limits_every_s: float = 2.0
    running_every_s: float = 1.0


class ConsoleService:
    """Reads the topics and probes into a :class:`ConsoleState` and publishes to a hub."""

    def __init__(self, settings: Settings, options: ConsoleOptions) -> None:
        bootstrap, redis_url = settings.require_services()
        self.options = options
        self.state = ConsoleState()
        self.hub = EventHub()
        self.latest: dict[str, Any] = {"group": None, "limits": None}
        self._settings = settings
        self._bootstrap = bootstrap
        self._topics = TopicCatalogue(settings.topic_prefix)
        self._security = KafkaSecurity.from_settings(settings)
        self._limits_config = (load_limits(options.limits_file)
                               if options.limits_file is not None else None)
        self._redis: Redis | None = (
            redis_client(redis_url, decode_responses=False, **redis_security_options(settings))
            if redis_url else None)
        self.feed = TopicFeed(bootstrap, self._topics, self.state, self._changed,
                              start_offset=options.start_offset, security=self._security)
        self._dirty: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def snapshot(self) -> dict[str, Any]:
        """Everything a page needs when it connects."""
        start = self.options.start_offset
        return {"sessions": self.state.snapshot(), "dead_letters": list(self.state.dead_letters),
                "group": self.latest["group"], "limits": self.latest["limits"],
                "feed": self.feed.stats.as_json(),
                "reading_from": "the end" if start is None else f"offset {start}"}

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self.feed.run(), name="console-feed"),
                       asyncio.create_task(self._flush_loop(), name="console-flush"),
                       asyncio.create_task(self._every(self.options.group_every_s, "group",
                                                       self._read_group))]
        if self._redis is not None and self._limits_config is not None:
            limits = LimitsProbe(self._limits_config, self._redis)
            self._tasks.append(asyncio.create_task(
                self._every(self.options.limits_every_s, "limits", limits.read)))
        if self._redis is not None and self._settings.ledger:
            running = RunningProbe(self._redis, self._settings.ledger_namespace)
            self._tasks.append(asyncio.create_task(self._running_loop(running)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None:
            await self._redis.aclose()

    def _changed(self, kind: str, payload: Any) -> None:
        if kind == "session":
            self._dirty.add(payload)
        elif kind == "dead_letter":
            self.hub.publish("dead_letter", payload)
        else:
            self.hub.publish("feed", self.feed.stats.as_json())

    async def _flush_loop(self) -> None:
        read = self.feed.stats.records
        while True:
            await asyncio.sleep(self.options.flush_s)
            if self.feed.stats.records != read:  # the counts in the page's header
                read = self.feed.stats.records
                self.hub.publish("feed", self.feed.stats.as_json())
            dirty, self._dirty = self._dirty, set()
            for session_id in dirty:
                session = self.state.sessions.get(session_id)
                if session is not None:  # else it was dropped for newer ones
                    self.hub.publish("session", session.as_json())

    async def _read_group(self) -> dict[str, Any]:
        if self.feed.stats.state == "error":  # the broker is away: the feed says why
            return {"error": f"the broker does not answer ({self.feed.stats.error})"}
        group = self.options.group_id or self._settings.group_id
        found = await read_group(self._bootstrap, group, self._topics,
                                 metrics_urls=self.options.metrics_urls,
                                 security=self._security)
        found["pending_calls"] = len(self.state.pending_calls(limit=100_000))
        return found

    async def _every(self, every_s: float, name: str,
                     read: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        while True:
            try:
                value = await read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or Redis away: shown, tried again
                value = {"error": f"{type(exc).__name__}: {_one_line(exc)}"}
            if value != self.latest[name]:
                self.latest[name] = value
                self.hub.publish(name, value)
            await asyncio.sleep(every_s)

    async def _running_loop(self, probe: RunningProbe) -> None:
        while True:
            await asyncio.sleep(self.options.running_every_s)
            try:
                found = await probe.read(self.state.pending_calls())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("console: reading leases failed: %r", exc)
                continue
            for session_id, call_id, owner in found:
                if self.state.mark_running(session_id, call_id, owner):
                    self._dirty.add(session_id)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
