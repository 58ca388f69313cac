"""How replay reports, session timelines and group status look in a terminal and as JSON.

What producers and the broker wrote (call ids, tools, outputs, worker and member
ids, group names) goes into tables as :class:`~rich.text.Text` and into lines
escaped, so it is shown as written and never read as rich markup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from async_toolformer.schemas import ToolCallCompleted
from async_toolformer.streams.ops.diff import Verdict
from async_toolformer.streams.ops.gantt import gantt_bars
from async_toolformer.streams.ops.group_status import GroupStatus
from async_toolformer.streams.ops.report import ReplayReport
from async_toolformer.streams.ops.timeline import SessionTimeline


def replay_view(report: ReplayReport, show: int) -> list[RenderableType]:
    """The summary, the calls whose verdict is not the expected one, and a hint if incomplete."""
    view: list[RenderableType] = []
    summary = report.summary()
    table = Table("replay", "value", title=escape(f"replay {report.plan.replay_id}"))
    for name, value in summary.items():
        table.add_row(Text(name), Text(str(value)))
    view.append(table)
    expected = Verdict.SAME_OUTCOME if report.plan.fresh else Verdict.IDENTICAL
    notable = [d for d in report.diffs if d.verdict is not expected]
    if notable and show > 0:
        diff = Table("call", "tool", "verdict", "changed", "old", "new",
                     title=f"{len(notable)} calls not {expected.value}")
        for d in notable[:show]:
            diff.add_row(Text(d.call_id), Text(d.tool), d.verdict.value,
                         Text(",".join(d.changed_fields)), Text(_outcome(d.old)),
                         Text(_outcome(d.new)))
        view.append(diff)
    if not report.complete:
        view.append(f"[red]{summary[Verdict.NO_NEW_RESULT]} calls got no result in time[/]; "
                    f"are workers serving {escape(report.plan.target.prefix)}* in group "
                    f"{escape(report.plan.group_id)}?")
    return view


def _outcome(result: ToolCallCompleted | None) -> str:
    if result is None:
        return "-"
    detail = (orjson.dumps(result.output).decode() if result.error is None
              else f"{result.error.type}: {result.error.message}")
    text = f"{result.status.value} {detail}"
    return text if len(text) <= 50 else text[:49] + "…"


def timeline_view(timeline: SessionTimeline, width: int) -> list[RenderableType]:
    """One row per call with its bar, and a line on what ran in parallel."""
    view: list[RenderableType] = []
    start = timeline.start
    bars = gantt_bars(timeline, width=width)
    table = Table("wave", "call", "tool", "start ms", "end ms", "status", "tries", "worker",
                  "timeline", title=escape(f"session {timeline.session_id}"))
    for span in timeline.spans:
        table.add_row(str(span.wave), Text(span.call_id), Text(span.tool),
                      _ms_since(start, span.start), _ms_since(start, span.end),
                      Text(span.status), str(span.attempts), Text(span.worker_id or "-"),
                      Text(bars.get(span.call_id, "")))
    view.append(table)
    republished = sum(s.published > 1 for s in timeline.spans)
    reemitted = sum(s.answered > 1 for s in timeline.spans)
    view.append(f"{len(timeline.spans)} calls in {timeline.waves} waves, at most "
                  f"{timeline.max_parallel} at once; {republished} published more than once, "
                  f"{reemitted} answered more than once (re-emissions, deduplicated by call_id)")
    if timeline.speculative:
        view.extend(_speculative_view(timeline))
    return view


def _speculative_view(timeline: SessionTimeline) -> list[RenderableType]:
    """The calls run early on a prediction, and whether a call of the session used each."""
    start = timeline.start
    table = Table("tool", "arguments", "start ms", "ran ms", "status", "confidence", "used by",
                  "saved ms", title="speculative calls (run early, results to the cache only)")
    for run in timeline.speculative:
        table.add_row(Text(run.tool), Text(run.arguments_digest[:12]),
                      _ms_since(start, run.start), f"{run.duration_ms:.0f}", Text(run.status),
                      f"{run.confidence:.2f}", Text(run.used_by or "unused"),
                      f"{run.saved_ms:.0f}")
    used = [run for run in timeline.speculative if run.used_by is not None]
    return [table, f"{len(used)} of {len(timeline.speculative)} speculative calls used, "
                   f"{sum(run.saved_ms for run in used):.0f} ms of tool time saved"]


def _ms_since(start: datetime | None, moment: datetime | None) -> str:
    if start is None or moment is None:
        return "-"
    return f"{(moment - start).total_seconds() * 1000:.0f}"


def timeline_json(timeline: SessionTimeline) -> dict[str, Any]:
    return {
        "session_id": timeline.session_id, "max_parallel": timeline.max_parallel,
        "waves": timeline.waves,
        "calls": [{"call_id": s.call_id, "tool": s.tool, "branch_id": s.branch_id,
                   "wave": s.wave, "start": s.start.isoformat(),
                   "end": s.end.isoformat() if s.end else None, "duration_ms": s.duration_ms,
                   "status": s.status, "attempts": s.attempts, "worker_id": s.worker_id,
                   "published": s.published, "answered": s.answered,
                   "parallel_with": s.overlaps} for s in timeline.spans],
        "speculative": [{"tool": s.tool, "arguments_digest": s.arguments_digest,
                         "start": s.start.isoformat(), "end": s.end.isoformat(),
                         "status": s.status, "confidence": s.confidence,
                         "used": s.used_by is not None, "used_by": s.used_by,
                         "saved_ms": s.saved_ms}
                        for s in timeline.speculative],
    }


def status_view(found: GroupStatus) -> list[RenderableType]:
    """Members, partitions with lag and owner, and calls in flight, each with its caveat."""
    view: list[RenderableType] = []
    view.append(f"group [bold]{escape(found.group_id)}[/] on {escape(found.topic)}: "
                f"state {escape(str(found.state))}, {len(found.members)} members")
    members = Table("member", "client", "host", "partitions")
    for m in found.members:
        members.add_row(Text(m.member_id), Text(m.client_id or "-"), Text(m.host or "-"),
                        ",".join(map(str, m.partitions)) or "not reported by the broker")
    view.append(members)
    parts = Table("partition", "committed", "end", "lag", "owner", "owner from")
    for p in found.partitions:
        lag = "-" if p.lag is None else f"{p.lag}{'?' if p.end_behind_commit else ''}"
        parts.add_row(str(p.partition), _num(p.committed), _num(p.end), lag,
                      Text(p.owner or "-"), Text(p.owner_source))
    view.append(parts)
    note = ("lag is an estimate: the broker reported end offsets below committed ones "
            "(its end offsets lag after batches), marked ?" if found.lag_is_estimate
            else "lag = end offset - committed offset, as the broker reports them")
    view.append(f"total lag {found.total_lag}; {note}")
    if not found.in_flight:
        view.append("calls in flight: pass --metrics http://HOST:PORT/metrics per worker "
                      "(members cannot be mapped to metrics endpoints: Faust joins with its "
                      "own client id)")
        return view
    flight = Table("metrics endpoint", "calls in flight")
    for url, value in found.in_flight.items():
        flight.add_row(Text(url), "unreachable" if value is None else f"{value:.0f}")
    view.append(flight)
    return view


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def status_json(found: GroupStatus) -> dict[str, Any]:
    return {
        "group_id": found.group_id, "topic": found.topic, "state": found.state,
        "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                     "partitions": list(m.partitions)} for m in found.members],
        "partitions": [{"partition": p.partition, "committed": p.committed, "end": p.end,
                        "lag": p.lag, "lag_is_estimate": p.end_behind_commit,
                        "owner": p.owner, "owner_source": p.owner_source}
                       for p in found.partitions],
        "total_lag": found.total_lag, "in_flight": found.in_flight,
    }
