"""One session's calls as a timeline: a fold over its ``calls`` and ``results`` events.

Pure. Each call becomes a :class:`CallSpan` (start, end, status, attempts,
worker, how often it was published and answered); spans whose intervals overlap
ran in parallel, and maximal runs of overlapping spans form *waves* (what an LLM
asked for at once, give or take scheduling). Calls still without a result are
listed as pending, outside any wave. Speculative runs the worker journaled for
the session (``SpeculativeCallRan``) are listed beside the calls, each with
whether the session used it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from async_toolformer.schemas import SpeculativeCallRan, ToolCallCompleted, ToolCallRequested

PENDING = "pending"


@dataclass(slots=True)
class CallSpan:
    """One call_id of the session; ``end`` is None while it has no result."""

    call_id: str
    tool: str
    branch_id: str
    requested_at: datetime
    start: datetime
    end: datetime | None = None
    status: str = PENDING
    attempts: int = 0
    worker_id: str = ""
    published: int = 0
    answered: int = 0
    wave: int = 0
    overlaps: list[str] = field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds() * 1000

    def overlaps_with(self, other: CallSpan) -> bool:
        """Whether both ran at some same moment (half-open intervals; pending: never)."""
        if self.end is None or other.end is None:
            return False
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class SpeculativeSpan:
    """A call run early for the session on a prediction; ``used_by`` the call that used it."""

    tool: str
    arguments_digest: str
    start: datetime
    end: datetime
    status: str
    confidence: float
    used_by: str | None
    saved_ms: float

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000


@dataclass(frozen=True, slots=True)
class SessionTimeline:
    """The session's spans by start time, and how many ran at once at most."""

    session_id: str
    spans: list[CallSpan]
    max_parallel: int
    waves: int
    speculative: list[SpeculativeSpan] = field(default_factory=list)

    @property
    def start(self) -> datetime | None:
        return min((s.start for s in self.spans), default=None)

    @property
    def end(self) -> datetime | None:
        ends = [s.end for s in self.spans if s.end is not None]
        return max(ends, default=None)


def build_timeline(session_id: str, calls: Iterable[ToolCallRequested],
                   results: Iterable[ToolCallCompleted],
                   speculative: Iterable[SpeculativeCallRan] = ()) -> SessionTimeline:
    """Fold the session's events (others are ignored) into its timeline."""
    spans: dict[str, CallSpan] = {}
    for call in calls:
        if call.session_id != session_id:
            continue
        span = spans.get(call.call_id)
        if span is None:
            span = spans[call.call_id] = CallSpan(call.call_id, call.tool, call.branch_id,
                                                   call.requested_at, call.requested_at)
        span.published += 1
    for result in results:
        if result.session_id != session_id:
            continue
        span = spans.get(result.call_id)
        if span is None:  # its request is outside what was read (retention, range)
            span = spans[result.call_id] = CallSpan(
                result.call_id, result.tool, result.branch_id,
                result.timings.requested_at, result.timings.requested_at)
        span.answered += 1
        if span.answered == 1:  # the first result is the answer; later ones are re-emissions
            timings = result.timings
            span.start = timings.started_at or timings.received_at
            span.end = timings.finished_at
            span.status, span.attempts = result.status.value, result.attempts
            span.worker_id = result.worker_id
    ordered = sorted(spans.values(), key=lambda s: (s.start, s.call_id))
    early = sorted((SpeculativeSpan(r.tool, r.arguments_digest, r.started_at,
                                    r.started_at + timedelta(milliseconds=r.run_ms), r.status,
                                    r.confidence,
                                    r.call_id if r.used else None, r.saved_ms)
                    for r in speculative if r.session_id == session_id),
                   key=lambda s: (s.start, s.tool))
    return SessionTimeline(session_id, ordered, *_mark_overlaps(ordered), speculative=early)


def _mark_overlaps(spans: list[CallSpan]) -> tuple[int, int]:
    """Fill ``overlaps`` and ``wave`` of the answered spans (sorted by start).

    Calls without a result are left out (wave 0): when, or whether, they started
    is not known from the log. Returns (most at once, number of waves).
    """
    done = [s for s in spans if s.end is not None]
    wave, most = 0, 0
    wave_end: datetime | None = None
    for i, span in enumerate(done):
        assert span.end is not None
        if wave_end is None or span.start >= wave_end:
            wave += 1
            wave_end = span.end
        wave_end = max(wave_end, span.end)
        span.wave = wave
        span.overlaps = [o.call_id for o in done if o is not span and span.overlaps_with(o)]
        most = max(most, 1 + sum(1 for o in done[:i] if o.end is not None and o.end > span.start))
    return most, wave
