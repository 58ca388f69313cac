"""The seams the session runtime talks through: an ordered outbox, models, the journal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from async_toolformer.schemas import SessionEvent, SessionOptions

from ..providers import LLMProvider
from .commands import CallModel

__all__ = ["Drive", "Feed", "JournalSource", "MemoryOutbox", "ProviderSource", "RecordSink",
           "SessionTopics", "TurnGuard"]

Feed = Callable[[SessionEvent], object]
Drive = Callable[[Feed], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SessionTopics:
    """Names of the topics the session loop writes to."""

    calls: str
    cancellations: str
    session_events: str
    dlq: str


class RecordSink(Protocol):
    """Sends records in the order ``send`` is called; the future resolves on the broker's ack.

    Order matters: a session's journal must read in the order the machine applied it.
    """

    def send(self, topic: str, key: bytes | None, value: bytes, *,
             headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]: ...


class ProviderSource(Protocol):
    """The model provider for a session's options (raises ProviderAuthError without credentials)."""

    def provider(self, options: SessionOptions) -> LLMProvider: ...


class TurnGuard(Protocol):
    """Stands around one model turn as the executor's guard stands around a tool call.

    It may answer from a recorded turn (feeding its events again without calling
    the model), wait for rate limits, or call ``drive`` to run the turn for real.
    """

    async def run(self, command: CallModel, drive: Drive, feed: Feed) -> None: ...


class JournalSource(Protocol):
    """Reads journal partitions from their start to their current end."""

    async def read_many(self, partitions: set[int]) -> dict[int, Sequence[SessionEvent]]: ...


class MemoryOutbox:
    """A :class:`RecordSink` that keeps records in a list, acknowledged at once (unit tests)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes]] = []
        self.headers: list[list[tuple[str, bytes]] | None] = []  # of each record

    def send(self, topic: str, key: bytes | None, value: bytes, *,
             headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]:
        self.records.append((topic, key, value))
        self.headers.append(headers)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future
