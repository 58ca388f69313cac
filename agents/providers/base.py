"""The seam between the session loop and a model API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from .events import ProviderEvent
from .messages import TurnRequest

__all__ = ["LLMProvider", "StreamAssembler", "ms_since", "relay_stream"]

ChunkT_contra = TypeVar("ChunkT_contra", contravariant=True)


@runtime_checkable
class LLMProvider(Protocol):
    """Runs one model turn. ``provider`` and ``model`` key rate limits and the ledger."""

    provider: str
    model: str

    def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        """Text deltas and ready tool calls as they come, then one TurnFinished.

        Raises ProviderAuthError, ProviderRateLimitError or ProviderError once the
        configured retries are spent.
        """
        ...


class StreamAssembler(Protocol, Generic[ChunkT_contra]):
    """Turns one API's stream chunks into provider events (pure; unit-tested per API)."""

    def feed(self, chunk: ChunkT_contra) -> list[ProviderEvent]: ...

    def finish(self, llm_ms: float) -> list[ProviderEvent]: ...


def ms_since(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - started) * 1000


async def relay_stream(stream: Any, assembler: StreamAssembler[Any],
                       started: float) -> AsyncIterator[ProviderEvent]:
    """Events of an SDK stream as they are assembled; the stream is closed however it ends."""
    try:
        async for chunk in stream:
            for event in assembler.feed(chunk):
                yield event
    finally:
        await stream.close()
    for event in assembler.finish(ms_since(started)):
        yield event
