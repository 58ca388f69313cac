"""Speculation played offline: a predictor driven over recorded sessions, turn by turn.

After each turn's results the predictor proposes calls; the read-only ones (at most
``max_per_result``, as the worker's runtime takes them) count as started. The next
turn then uses some of them: the rest were wasted, and so is whatever was proposed
after a session's last turn (the runtime cannot know it was the last). Each
proposal's fate is fed back, which is what moves the adaptive thresholds. Tool time
is the workload's own durations; no services are involved.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from async_toolformer.agents.speculation import Prediction, Predictor
from async_toolformer.streams.devtools.bench.speculation_workload import (
    READ_ONLY,
    TOOL_MS,
    WorkSession,
    output_of,
)

MAX_PER_RESULT = 4


@dataclass(frozen=True, slots=True)
class OfflineFigures:
    """Speculation's precision, recall and wasted tool time over a set of sessions."""

    proposed: int
    used: int
    predictable: int
    """Read-only calls after each session's first turn: what speculation could have started."""
    tool_ms: float
    wasted_ms: float

    @property
    def precision(self) -> float:
        return self.used / self.proposed if self.proposed else 0.0

    @property
    def recall(self) -> float:
        return self.used / self.predictable if self.predictable else 0.0

    @property
    def wasted_tool_ms_ratio(self) -> float:
        total = self.tool_ms + self.wasted_ms
        return self.wasted_ms / total if total else 0.0


def call_key(tool: str, arguments: dict[str, Any]) -> bytes:
    """One call's identity: its tool and its arguments, key order aside."""
    return tool.encode() + b"\x00" + orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)


def turn_label(session: WorkSession, index: int) -> str:
    return f"{session.session_id}-t{index}"


def train(predictor: Predictor, sessions: Iterable[WorkSession]) -> None:
    """Let ``predictor`` learn from ``sessions``, as a worker would online."""
    for session in sessions:
        for index, turn in enumerate(session.turns):
            _play_turn(predictor, session, index, turn)
        predictor.end_session(session.tenant, session.session_id)


def simulate(predictor: Predictor, sessions: Iterable[WorkSession], *,
             max_per_result: int = MAX_PER_RESULT) -> OfflineFigures:
    """Speculate over ``sessions`` with ``predictor`` (which keeps learning, online)."""
    proposed = used = predictable = 0
    tool_ms = wasted_ms = 0.0
    for session in sessions:
        pending: list[Prediction] = []
        for index, turn in enumerate(session.turns):
            wanted = {call_key(c.tool, c.arguments) for c in turn}
            if index > 0:
                predictable += sum(1 for c in turn if c.tool in READ_ONLY)
            for prediction in pending:
                hit = call_key(prediction.tool, prediction.arguments) in wanted
                used += hit
                if not hit:
                    wasted_ms += TOOL_MS.get(prediction.tool, 0)
                predictor.feedback(session.tenant, prediction.tool, hit)
            _play_turn(predictor, session, index, turn)
            tool_ms += sum(c.duration_ms for c in turn)
            pending = started(predictor.predict(session.tenant, session.session_id),
                              max_per_result)
            proposed += len(pending)
        for prediction in pending:
            wasted_ms += TOOL_MS.get(prediction.tool, 0)
            predictor.feedback(session.tenant, prediction.tool, False)
        predictor.end_session(session.tenant, session.session_id)
    return OfflineFigures(proposed, used, predictable, round(tool_ms, 1), round(wasted_ms, 1))


def started(predictions: list[Prediction], max_per_result: int) -> list[Prediction]:
    """The predictions the runtime would start: read-only tools, most confident first."""
    return [p for p in predictions if p.tool in READ_ONLY][:max_per_result]


def _play_turn(predictor: Predictor, session: WorkSession, index: int, turn: list[Any]) -> None:
    label = turn_label(session, index)
    for call in turn:
        predictor.observe_call(session.tenant, session.session_id, call.call_id, call.tool,
                               call.arguments, turn=label)
    for call in turn:
        predictor.observe_result(session.tenant, session.session_id, call.call_id, call.tool,
                                 status="ok", value=output_of(call.tool, call.arguments))


def reduction_ceiling(sessions: Iterable[WorkSession], turn_latency_ms: float) -> float:
    """The session p50 reduction perfect speculation could reach on ``sessions``.

    A session waits, per turn, for the model and then for its slowest call, then for
    the model's answer. A speculative run starts when the previous turn's results are
    in, so at best it hides, in every turn after the first, the model's time or its
    slowest read-only call, whichever is shorter. Pipeline overheads are left out (they
    only lower the real figure), so this is an upper bound to read the measured one by.
    """
    plain: list[float] = []
    ideal: list[float] = []
    for session in sessions:
        waited = turn_latency_ms * (len(session.turns) + 1)
        hidden = 0.0
        for index, turn in enumerate(session.turns):
            waited += max(c.duration_ms for c in turn)
            ready = [c.duration_ms for c in turn if c.tool in READ_ONLY]
            if index > 0 and ready and len(ready) == len(turn):
                hidden += min(max(ready), turn_latency_ms)
        plain.append(waited)
        ideal.append(waited - hidden)
    if not plain:
        return 0.0
    return 1 - statistics.median(ideal) / statistics.median(plain)
