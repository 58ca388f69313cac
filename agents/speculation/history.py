"""Feeding a predictor recorded sessions (from the ``calls`` and ``results`` topics).

Records of the two topics arrive separately and a session's results interleave with
its calls; a predictor must see them as a session saw them: each turn's calls, then
their results, then the next turn. Turns are the request's ``llm_call_id`` (metadata)
where present; without it, a call starts a new turn once an earlier call of its
session had finished before it was requested. Sessions are fed one after the other,
in the order of their first call, and ended, so counts match learning online.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from async_toolformer.schemas import ToolCallCompleted, ToolCallRequested

from .protocol import Predictor

TURN_KEY = "llm_call_id"


@dataclass(slots=True)
class FeedReport:
    """What was fed: counts, and what could not be matched."""

    sessions: int = 0
    calls: int = 0
    results: int = 0
    orphan_results: int = 0
    """Results of calls not in the log read (an older call, or a range cut)."""
    tenants: set[str] = field(default_factory=set)


def session_turns(calls: list[ToolCallRequested], results: dict[str, ToolCallCompleted]
                  ) -> list[tuple[str, list[ToolCallRequested]]]:
    """One session's calls grouped in turns, in order: (turn label, calls)."""
    ordered = sorted(enumerate(calls), key=lambda item: (item[1].requested_at, item[0]))
    turns: list[tuple[str, list[ToolCallRequested]]] = []
    by_label: dict[str, list[ToolCallRequested]] = {}
    finished: list[ToolCallCompleted] = []
    for _, call in ordered:
        label = call.metadata.get(TURN_KEY)
        if label is None:
            if not turns or any(done.timings.finished_at <= call.requested_at
                                for done in finished):
                label = f"#{len(turns)}"
                finished = []
            else:
                label = turns[-1][0]
        if label not in by_label:
            by_label[label] = []
            turns.append((label, by_label[label]))
        by_label[label].append(call)
        result = results.get(call.call_id)
        if result is not None:
            finished.append(result)
    return turns


def feed(predictor: Predictor, calls: Iterable[ToolCallRequested],
         results: Iterable[ToolCallCompleted], *, end_sessions: bool = True) -> FeedReport:
    """Feed ``predictor`` the recorded sessions of ``calls`` and ``results``."""
    report = FeedReport()
    sessions: dict[tuple[str, str], list[ToolCallRequested]] = {}
    seen: set[tuple[str, str]] = set()
    for call in calls:
        if (call.session_id, call.call_id) in seen:
            continue  # a redelivered request
        seen.add((call.session_id, call.call_id))
        sessions.setdefault((call.tenant, call.session_id), []).append(call)
    answers: dict[tuple[str, str], ToolCallCompleted] = {}
    for result in results:
        key = (result.session_id, result.call_id)
        if key not in seen:
            report.orphan_results += 1
        elif key not in answers:
            answers[key] = result
    order = sorted(sessions, key=lambda key: min(c.requested_at for c in sessions[key]))
    for tenant, session_id in order:
        session_calls = sessions[(tenant, session_id)]
        mine = {c.call_id: answers[(session_id, c.call_id)] for c in session_calls
                if (session_id, c.call_id) in answers}
        for label, turn in session_turns(session_calls, mine):
            for call in turn:
                predictor.observe_call(tenant, session_id, call.call_id, call.tool,
                                       call.arguments, turn=label)
                report.calls += 1
            for call in turn:
                answer = mine.get(call.call_id)
                if answer is not None:
                    predictor.observe_result(tenant, session_id, call.call_id, answer.tool,
                                             status=answer.status.value, value=answer.output)
                    report.results += 1
        if end_sessions:
            predictor.end_session(tenant, session_id)
        report.sessions += 1
        report.tenants.add(tenant)
    return report
