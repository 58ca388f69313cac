"""LLM calls as calls: model turns go through the execution ledger and the rate limits.

A turn is keyed ``llm:{session}:{turn}:{attempt}``. The first time, it waits for
the limits of its provider and model (service ``llm:{provider}:{model}``: one
admission costs the turn's estimated tokens, so a file can hold requests/minute
and tokens/minute for the same service), runs, and records the session events it
produced. Run again (a resumed or re-submitted session), it feeds the recorded
events instead of calling the model: same answer, same tool calls, no cost.
A turn that failed is not recorded, so a retry calls the model again; a lease
that expired is simply taken over, since a model call has no side effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson

from async_toolformer.agents.sessions import CallModel, Drive, Feed, ProviderSource
from async_toolformer.schemas import (
    LLMTurnCompleted,
    LLMTurnFailed,
    SessionEvent,
    decode_session_event,
    encode,
)
from async_toolformer.streams.redis.ledger import (
    Acquired,
    HeldElsewhere,
    LeaseKeeper,
    Ledger,
    Recorded,
)
from async_toolformer.streams.redis.ratelimit import (
    CallQuota,
    QuotaTooLargeError,
    RateLimitedError,
    RateLimiter,
)

__all__ = ["LedgerTurnGuard", "turn_key"]

logger = logging.getLogger(__name__)

_CHARS_PER_TOKEN = 4


def turn_key(command: CallModel) -> str:
    return f"llm:{command.session_id}:{command.turn}:{command.attempt}"


class LedgerTurnGuard:
    """A :class:`~async_toolformer.agents.sessions.TurnGuard` over the ledger and limits."""

    def __init__(self, ledger: Ledger | None, limiter: RateLimiter | None,
                 providers: ProviderSource, *, worker_id: str, tenant: str = "default") -> None:
        self._ledger = ledger
        self._limiter = limiter
        self._providers = providers
        self._worker_id = worker_id
        self._tenant = tenant

    async def run(self, command: CallModel, drive: Drive, feed: Feed) -> None:
        try:
            await self._run(command, drive, feed)
        except (RateLimitedError, QuotaTooLargeError) as exc:  # a "reject" limit said no
            feed(LLMTurnFailed(session_id=command.session_id, turn=command.turn,
                               error=f"the model call was not admitted: {exc}"))

    async def _run(self, command: CallModel, drive: Drive, feed: Feed) -> None:
        ledger = self._ledger
        if ledger is None:
            async with self._admitted(command):
                await drive(feed)
            return
        key = turn_key(command)
        while True:
            match await ledger.claim(key, self._worker_id):
                case Recorded(stored):
                    for event in _decode(stored):
                        feed(event)
                    return
                case HeldElsewhere(expires_in_ms=expires_in_ms):
                    await asyncio.sleep(min(1.0, max(0.01, expires_in_ms / 1000)))
                case Acquired(token=token):
                    await self._run_claimed(ledger, key, token, command=command,
                                            drive=drive, feed=feed)
                    return

    async def _run_claimed(self, ledger: Ledger, key: str, token: int, *, command: CallModel,
                           drive: Drive, feed: Feed) -> None:
        produced: list[SessionEvent] = []

        def tee(event: SessionEvent) -> object:
            produced.append(event)
            return feed(event)

        try:
            async with LeaseKeeper(ledger, key, token), self._admitted(command):
                await drive(tee)
        except BaseException:
            await asyncio.shield(ledger.release(key, token))
            raise
        if any(isinstance(event, LLMTurnCompleted) for event in produced):
            await ledger.complete(key, token, _encode(produced))
        else:
            await ledger.release(key, token)  # failed or stopped: the next try calls the model

    @asynccontextmanager
    async def _admitted(self, command: CallModel) -> AsyncIterator[None]:
        if self._limiter is None:
            yield
            return
        async with self._limiter.admit(self._quota(command)):
            yield

    def _quota(self, command: CallModel) -> CallQuota:
        try:
            provider = self._providers.provider(command.options)
            service = f"llm:{provider.provider}:{provider.model}"
        except Exception:  # no credentials: the turn itself will say so
            service = "llm:unknown"
        prompt_chars = sum(len(str(getattr(m, "content", "") or ""))
                           for m in command.request.messages)
        tokens = prompt_chars / _CHARS_PER_TOKEN + (command.request.max_tokens or 0)
        return CallQuota(tool="llm", service=service, tenant=self._tenant,
                         cost=max(1.0, tokens))


def _encode(events: list[SessionEvent]) -> bytes:
    return b"[" + b",".join(encode(event) for event in events) + b"]"


def _decode(stored: bytes) -> list[SessionEvent]:
    return [decode_session_event(orjson.dumps(item)) for item in orjson.loads(stored)]


