"""LLM calls as calls: model turns go through the execution ledger and the rate limits.

A turn is keyed ``llm:{session}:{turn}:{attempt}`` (tool calls live under
``call:``, so no call_id reaches a turn's entry) and runs under the claim
protocol of tool calls (:mod:`.claim`), as work without side effects. Its
fingerprint names the session's tenant: a session of another tenant with the
same id is refused its turns (``LLMTurnFailed``), never fed this one's. Limits
are the session's tenant's. The first
time, it waits for the limits of its provider and model (service
``llm:{provider}:{model}``: one admission costs the turn's estimated tokens, so a
file can hold requests/minute and tokens/minute for the same service), runs,
and records the session events it produced. Run again (a resumed or
re-submitted session), it feeds the recorded events instead of calling the
model: same answer, same tool calls, no cost.

Because a model call has no side effect, a turn that failed or was stopped
releases its claim (a retry calls the model again), an expired lease is simply
taken over, and a lease lost while the turn streams does not stop it (its
events are already in the session; the fencing token keeps its record from
overwriting another's).

A ledger failure never escapes the model task: a Redis that does not answer
for ``patience_s`` before the turn ends it as ``LLMTurnFailed`` (the session
then fails, or is retried, as the machine decides); after the model answered,
the turn stands unrecorded and a warning is logged.
"""

from __future__ import annotations

import hashlib
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
from async_toolformer.streams.redis.claim import ClaimProtocol, Stint
from async_toolformer.streams.redis.ledger import Ledger, LedgerError
from async_toolformer.streams.redis.ratelimit import (
    CallQuota,
    QuotaTooLargeError,
    RateLimitedError,
    RateLimiter,
)

__all__ = ["LedgerTurnGuard", "turn_fingerprint", "turn_key"]

logger = logging.getLogger(__name__)

_CHARS_PER_TOKEN = 4
DEFAULT_PATIENCE_S = 30.0


def turn_key(command: CallModel) -> str:
    return f"llm:{command.session_id}:{command.turn}:{command.attempt}"


def turn_fingerprint(command: CallModel) -> str:
    """Whose turn it is: the tenant and session (32 hex digits)."""
    return hashlib.sha256(f"{command.tenant}\0{command.session_id}".encode(
        "utf-8", "surrogatepass")).hexdigest()[:32]


class LedgerTurnGuard:
    """A :class:`~async_toolformer.agents.sessions.TurnGuard` over the ledger and limits.

    ``patience_s``: how long a turn waits for an unreachable ledger before it fails.
    """

    def __init__(self, ledger: Ledger | None, limiter: RateLimiter | None,
                 providers: ProviderSource, *, worker_id: str, tenant: str = "default",
                 patience_s: float = DEFAULT_PATIENCE_S) -> None:
        self._limiter = limiter
        self._providers = providers
        self._tenant = tenant
        self._claims = (ClaimProtocol(ledger, worker_id, patience_s=patience_s)
                        if ledger is not None else None)

    async def run(self, command: CallModel, drive: Drive, feed: Feed) -> None:
        """Run the turn; every way it can fail ends as an event, never as an exception."""
        watched = _Watched(feed)
        try:
            await self._run(command, drive, watched)
        except (RateLimitedError, QuotaTooLargeError) as exc:  # a "reject" limit said no
            watched.fail(command, f"the model call was not admitted: {exc}")
        except LedgerError as exc:
            watched.fail(command, f"the execution ledger failed: {exc}")
        except Exception as exc:  # a bug must end the session, not hang it
            logger.exception("the guard of turn %d of session %s failed", command.turn,
                             command.session_id)
            watched.fail(command, f"internal error around the model call: {exc!r}")

    async def _run(self, command: CallModel, drive: Drive, feed: Feed) -> None:
        if self._claims is None:
            async with self._admitted(command):
                await drive(feed)
            return
        await self._claims.settle(turn_key(command), _TurnWork(self, command, drive, feed))

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
        return CallQuota(tool="llm", service=service, tenant=command.tenant or self._tenant,
                         cost=max(1.0, tokens))


class _Watched:
    """The session's feed, noting whether the turn has already ended."""

    def __init__(self, feed: Feed) -> None:
        self._feed = feed
        self.ended = False

    def __call__(self, event: SessionEvent) -> object:
        if isinstance(event, LLMTurnCompleted | LLMTurnFailed):
            self.ended = True
        return self._feed(event)

    def fail(self, command: CallModel, error: str) -> None:
        if self.ended:  # the session has the turn's end already; a second would contradict it
            logger.warning("turn %d of session %s ended, then: %s", command.turn,
                           command.session_id, error)
            return
        self(LLMTurnFailed(session_id=command.session_id, turn=command.turn, error=error))


class _TurnWork:
    """One model turn as :class:`~async_toolformer.streams.redis.claim.Work`."""

    side_effects = False

    def __init__(self, guard: LedgerTurnGuard, command: CallModel, drive: Drive,
                 feed: Feed) -> None:
        self._guard = guard
        self._command = command
        self._drive = drive
        self._feed = feed
        self.fingerprint = turn_fingerprint(command)

    def conflict(self) -> list[SessionEvent]:
        failed = LLMTurnFailed(
            session_id=self._command.session_id, turn=self._command.turn,
            error="this turn's ledger entry belongs to a session of another tenant with the "
                  "same session_id; start the session with a new session_id")
        self._feed(failed)
        return [failed]

    def answer(self, stored: bytes) -> list[SessionEvent]:
        events = _decode(stored)
        for event in events:
            self._feed(event)
        return events

    def instead(self, takeover_from: str | None, started_here: bool) -> None:
        return None  # no side effect: a turn taken over is simply run

    async def run(self, stint: Stint) -> list[SessionEvent]:
        produced: list[SessionEvent] = []

        def tee(event: SessionEvent) -> object:
            produced.append(event)
            return self._feed(event)

        async with self._guard._admitted(self._command):
            await stint.enter(lambda: self._drive(tee))
        return produced

    def record_of(self, result: list[SessionEvent]) -> bytes | None:
        if any(isinstance(event, LLMTurnCompleted) for event in result):
            return _encode(result)
        return None  # failed or stopped: the next try calls the model


def _encode(events: list[SessionEvent]) -> bytes:
    return b"[" + b",".join(encode(event) for event in events) + b"]"


def _decode(stored: bytes) -> list[SessionEvent]:
    return [decode_session_event(orjson.dumps(item)) for item in orjson.loads(stored)]
