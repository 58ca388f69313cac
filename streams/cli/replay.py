"""``replay``, ``history`` and ``status``: read the event log back, and look at the group.

Mounted by ``main.py`` as ``toolformer replay``, ``toolformer history`` and
``toolformer status``; :func:`bench` as ``toolformer bench replay``.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from ..replay import (
    RangeError,
    RecordRange,
    ReplayOptions,
    ReplayPlan,
    ReplayReport,
    Verdict,
)
from ..replay import (
    replay as run_replay,
)
from ..replay.gantt import gantt_bars
from ..replay.group_status import GroupStatus, group_status
from ..replay.session_reader import read_session
from ..replay.timeline import SessionTimeline
from ..settings import Settings
from ..topics import TopicCatalogue
from ._runtime import console, fail, run
from .serve import ToolsOption, settings_with

JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")]


def replay(
    from_offset: Annotated[int | None, typer.Option(help="First offset (each partition).")] = None,
    to_offset: Annotated[int | None, typer.Option(help="Last offset, inclusive.")] = None,
    from_time: Annotated[str | None, typer.Option(
        help="Records written at or after, ISO 8601 (no zone: local time).")] = None,
    to_time: Annotated[str | None, typer.Option(help="Records written at or before.")] = None,
    partition: Annotated[list[int] | None, typer.Option(
        "--partition", "-p", help="Only this partition (repeatable); default all.")] = None,
    fresh: Annotated[bool, typer.Option(
        help="A new ledger namespace: run every tool again and diff the outputs.")] = False,
    external: Annotated[bool, typer.Option(
        help="Start no worker here; serve the replay with workers started elsewhere.")] = False,
    tools: ToolsOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the results.")] = 300.0,
    idle: Annotated[float, typer.Option(help="Seconds without records that end reading.")] = 1.5,
    show: Annotated[int, typer.Option(help="Rows of the diff to print.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Re-submit a range of the calls topic under a new consumer group; diff the results.

    The calls are copied to topics of their own (<prefix>replay-<id>.*) and served
    by a worker of group <group>-replay-<id>, started here unless --external. With
    the live ledger no tool runs and the recorded results are re-emitted; with
    --fresh every tool runs again. Live topics and offsets are left alone.
    """
    settings = settings_with(tools)
    try:
        selection = RecordRange(tuple(partition) if partition else None, from_offset, to_offset,
                                _moment(from_time, "--from-time"), _moment(to_time, "--to-time"))
    except RangeError as exc:
        fail(str(exc))
    options = ReplayOptions(selection, fresh=fresh, external=external, timeout_s=timeout,
                            idle_s=idle)
    with _ReplayProgress(enabled=not as_json, external=external) as progress:
        report = run(run_replay(settings, options, observer=progress))
    if as_json:
        print(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        _print_replay(report, show)
    if not report.complete:
        raise typer.Exit(1)


def history(
    session_id: Annotated[str, typer.Argument(help="The session to rebuild.")],
    width: Annotated[int, typer.Option(help="Width of the timeline bars.")] = 40,
    as_json: JsonFlag = False,
) -> None:
    """Rebuild one session from its calls and results: its timeline, and what ran in parallel."""
    settings = Settings()
    bootstrap, _ = settings.require_services()
    timeline = run(read_session(bootstrap, TopicCatalogue(settings.topic_prefix), session_id))
    if not timeline.spans:
        fail(f"no calls or results for session {session_id!r} on {settings.topic_prefix}calls "
             f"/ {settings.topic_prefix}results")
    if as_json:
        print(orjson.dumps(_timeline_json(timeline), option=orjson.OPT_INDENT_2).decode())
        return
    _print_timeline(timeline, width)


def status(
    group: Annotated[str | None, typer.Option(help="Consumer group (default: the workers').")
                     ] = None,
    metrics: Annotated[list[str] | None, typer.Option(
        "--metrics", "-m", help="A worker's /metrics URL, for calls in flight (repeatable).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The workers' consumer group: members, partitions per member, lag, calls in flight."""
    settings = Settings()
    bootstrap, _ = settings.require_services()
    found = run(group_status(bootstrap, group or settings.group_id,
                             TopicCatalogue(settings.topic_prefix),
                             metrics_urls=tuple(metrics or ())))
    if as_json:
        print(orjson.dumps(_status_json(found), option=orjson.OPT_INDENT_2).decode())
        return
    _print_status(found)


def bench(as_json: JsonFlag = False) -> None:
    """Replay throughput with the live ledger, ledger overhead, and two workers over one."""
    from ..bench.replay import bench_replay
    from .bench import _print

    with console.status("benchmarking replay, ledger and scaling (a few minutes) ..."):
        report = run(bench_replay(Settings()))
    _print(report, as_json)


class _ReplayProgress:
    """Bars for records copied and results received, drawn from the replay's observer calls."""

    def __init__(self, *, enabled: bool, external: bool) -> None:
        self._external = external
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), console=console, transient=True,
                             disable=not enabled)
        self._copied: TaskID | None = None
        self._answered: TaskID | None = None

    def __enter__(self) -> _ReplayProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.__exit__(kind, exc, tb)

    def planned(self, plan: ReplayPlan) -> None:
        self._copied = self._bar.add_task(f"copying to {plan.target.calls}", total=None)
        say = self._bar.console.print
        if plan.fresh:
            say(f"fresh ledger namespace [bold]{plan.ledger_namespace}[/]: every tool runs again")
        if self._external:
            env = " ".join(f"{k}={v}" for k, v in plan.worker_env().items())
            say(f"waiting for workers started elsewhere:\n  {env} toolformer worker")

    def copied(self, records: int) -> None:
        if self._copied is not None:
            self._bar.advance(self._copied, records)

    def submitted(self, calls: int) -> None:
        if self._copied is not None:
            self._bar.update(self._copied, total=self._bar.tasks[self._copied].completed)
        self._answered = self._bar.add_task("results", total=calls)

    def answered(self, results: int) -> None:
        if self._answered is not None:
            self._bar.advance(self._answered, results)


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not an ISO 8601 time, e.g. 2025-01-31T14:05:00Z")
    return moment if moment.tzinfo is not None else moment.astimezone()


def _print_replay(report: ReplayReport, show: int) -> None:
    summary = report.summary()
    table = Table("replay", "value", title=f"replay {report.plan.replay_id}")
    for name, value in summary.items():
        table.add_row(name, str(value))
    console.print(table)
    expected = Verdict.SAME_OUTCOME if report.plan.fresh else Verdict.IDENTICAL
    notable = [d for d in report.diffs if d.verdict is not expected]
    if notable and show > 0:
        diff = Table("call", "tool", "verdict", "changed", "old", "new",
                     title=f"{len(notable)} calls not {expected.value}")
        for d in notable[:show]:
            diff.add_row(d.call_id, d.tool, d.verdict.value, ",".join(d.changed_fields),
                         _outcome(d.old), _outcome(d.new))
        console.print(diff)
    if not report.complete:
        console.print(f"[red]{summary[Verdict.NO_NEW_RESULT]} calls got no result in time[/]; "
                      f"are workers serving {report.plan.target.prefix}* in group "
                      f"{report.plan.group_id}?")


def _outcome(result: Any) -> str:
    if result is None:
        return "-"
    detail = (orjson.dumps(result.output).decode() if result.error is None
              else f"{result.error.type}: {result.error.message}")
    text = f"{result.status.value} {detail}"
    return text if len(text) <= 50 else text[:49] + "…"


def _print_timeline(timeline: SessionTimeline, width: int) -> None:
    start = timeline.start
    bars = gantt_bars(timeline, width=width)
    table = Table("wave", "call", "tool", "start ms", "end ms", "status", "tries", "worker",
                  "timeline", title=f"session {timeline.session_id}")
    for span in timeline.spans:
        table.add_row(str(span.wave), span.call_id, span.tool, _ms_since(start, span.start),
                      _ms_since(start, span.end), span.status, str(span.attempts),
                      span.worker_id or "-", bars.get(span.call_id, ""))
    console.print(table)
    republished = sum(s.published > 1 for s in timeline.spans)
    reemitted = sum(s.answered > 1 for s in timeline.spans)
    console.print(f"{len(timeline.spans)} calls in {timeline.waves} waves, at most "
                  f"{timeline.max_parallel} at once; {republished} published more than once, "
                  f"{reemitted} answered more than once (re-emissions, deduplicated by call_id)")


def _ms_since(start: datetime | None, moment: datetime | None) -> str:
    if start is None or moment is None:
        return "-"
    return f"{(moment - start).total_seconds() * 1000:.0f}"


def _timeline_json(timeline: SessionTimeline) -> dict[str, Any]:
    return {
        "session_id": timeline.session_id, "max_parallel": timeline.max_parallel,
        "waves": timeline.waves,
        "calls": [{"call_id": s.call_id, "tool": s.tool, "branch_id": s.branch_id,
                   "wave": s.wave, "start": s.start.isoformat(),
                   "end": s.end.isoformat() if s.end else None, "duration_ms": s.duration_ms,
                   "status": s.status, "attempts": s.attempts, "worker_id": s.worker_id,
                   "published": s.published, "answered": s.answered,
                   "parallel_with": s.overlaps} for s in timeline.spans],
    }


def _print_status(found: GroupStatus) -> None:
    console.print(f"group [bold]{found.group_id}[/] on {found.topic}: state {found.state}, "
                  f"{len(found.members)} members")
    members = Table("member", "client", "host", "partitions")
    for m in found.members:
        members.add_row(m.member_id, m.client_id or "-", m.host or "-",
                        ",".join(map(str, m.partitions)) or "not reported by the broker")
    console.print(members)
    parts = Table("partition", "committed", "end", "lag", "owner", "owner from")
    for p in found.partitions:
        lag = "-" if p.lag is None else f"{p.lag}{'?' if p.end_behind_commit else ''}"
        parts.add_row(str(p.partition), _num(p.committed), _num(p.end), lag, p.owner or "-",
                      p.owner_source)
    console.print(parts)
    note = ("lag is an estimate: the broker reported end offsets below committed ones "
            "(its end offsets lag after batches), marked ?" if found.lag_is_estimate
            else "lag = end offset - committed offset, as the broker reports them")
    console.print(f"total lag {found.total_lag}; {note}")
    if not found.in_flight:
        console.print("calls in flight: pass --metrics http://HOST:PORT/metrics per worker "
                      "(members cannot be mapped to metrics endpoints: Faust joins with its "
                      "own client id)")
        return
    flight = Table("metrics endpoint", "calls in flight")
    for url, value in found.in_flight.items():
        flight.add_row(url, "unreachable" if value is None else f"{value:.0f}")
    console.print(flight)


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def _status_json(found: GroupStatus) -> dict[str, Any]:
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
