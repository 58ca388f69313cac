"""A console on a free port, and reading its event stream the way a page does."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from async_toolformer.streams.ops.console import ConsoleOptions, ConsoleServer, ConsoleService
from async_toolformer.streams.worker.settings import Settings

LIMITS = """
namespace = "{namespace}"

[[limits]]
name = "sleep-rate"
scope = "tool"
match = "sleep"
kind = "token_bucket"
rate = 1000
per = "second"
burst = 100
"""


def write_limits(directory: Path, namespace: str) -> Path:
    path = directory / "limits.toml"
    path.write_text(LIMITS.format(namespace=namespace))
    return path


@contextlib.asynccontextmanager
async def running_console(settings: Settings, **options: Any) -> AsyncIterator[ConsoleServer]:
    """A console for ``settings`` on a free loopback port, reading from offset 0."""
    values: dict[str, Any] = {"start_offset": 0, "group_every_s": 0.5,
                              "limits_every_s": 0.5, "running_every_s": 0.2}
    values.update(options)
    server = ConsoleServer(ConsoleService(settings, ConsoleOptions(**values)), "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, data) of each message of an SSE stream's text; comments are skipped."""
    messages = []
    for block in text.split("\n\n"):
        event, data = "message", None
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                data = orjson.loads(line[len("data: "):])
        if data is not None:
            messages.append((event, data))
    return messages


async def read_events(url: str, until: Callable[[list[tuple[str, Any]]], bool], *,
                      timeout_s: float = 30.0) -> tuple[str, list[tuple[str, Any]]]:
    """Read ``url``'s ``/events`` until ``until(messages)`` or ``timeout_s``.

    Returns the raw text and its messages.
    """
    raw = ""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http, http.get(url + "events") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(response.content.readany(), 1.0)
            except TimeoutError:
                continue
            if not chunk:
                break
            raw += chunk.decode()
            if until(parse_sse(raw)):
                break
    return raw, parse_sse(raw)


def latest_sessions(messages: list[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each session's latest view, from a snapshot and the updates after it."""
    sessions: dict[str, dict[str, Any]] = {}
    for event, data in messages:
        if event == "snapshot":
            sessions = {s["session_id"]: s for s in data["sessions"]}
        elif event == "session":
            sessions[data["session_id"]] = data
    return sessions


def last(messages: list[tuple[str, Any]], kind: str) -> Any:
    """The latest ``kind`` (group, limits) the stream carried, snapshot included."""
    found = None
    for event, data in messages:
        if event == "snapshot":
            found = data.get(kind, found) if kind in ("group", "limits") else found
        elif event == kind:
            found = data
    return found


def dead_letters(messages: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Dead letters the stream carried, snapshot included, oldest first."""
    found: list[dict[str, Any]] = []
    for event, data in messages:
        if event == "snapshot":
            found = list(data["dead_letters"])
        elif event == "dead_letter":
            found.append(data)
    return found
