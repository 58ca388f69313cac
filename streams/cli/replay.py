"""``replay``, ``history`` and ``status``: read the event log back, and look at the group.

Mounted by ``main.py`` as ``toolformer replay``, ``toolformer history`` and
``toolformer status``; :func:`bench` as ``toolformer bench replay``.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Annotated

import orjson
import typer
from rich.console import RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from async_toolformer.streams.cli._runtime import console, fail, run
from async_toolformer.streams.cli.render import print_report
from async_toolformer.streams.cli.render_history import (
    replay_view,
    status_json,
    status_view,
    timeline_json,
    timeline_view,
)
from async_toolformer.streams.cli.serve import ToolsOption, settings_with
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops import RangeError, RecordRange, ReplayOptions, ReplayPlan
from async_toolformer.streams.ops import replay as run_replay
from async_toolformer.streams.ops.group_status import group_status
from async_toolformer.streams.ops.session_reader import read_session
from async_toolformer.streams.worker.settings import Settings

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
        _show(replay_view(report, show))
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
    timeline = run(read_session(bootstrap, TopicCatalogue(settings.topic_prefix), session_id,
                                security=KafkaSecurity.from_settings(settings)))
    if not timeline.spans:
        fail(f"no calls or results for session {session_id!r} on {settings.topic_prefix}calls "
             f"/ {settings.topic_prefix}results")
    if as_json:
        print(orjson.dumps(timeline_json(timeline), option=orjson.OPT_INDENT_2).decode())
        return
    _show(timeline_view(timeline, width))


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
                             metrics_urls=tuple(metrics or ()),
                             security=KafkaSecurity.from_settings(settings)))
    if as_json:
        print(orjson.dumps(status_json(found), option=orjson.OPT_INDENT_2).decode())
        return
    _show(status_view(found))


def bench(as_json: JsonFlag = False) -> None:
    """Replay throughput with the live ledger, ledger overhead, and two workers over one."""
    from async_toolformer.streams.devtools.bench.replay import bench_replay

    with console.status("benchmarking replay, ledger and scaling (a few minutes) ..."):
        report = run(bench_replay(Settings()))
    print_report(report, as_json=as_json)


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


def _show(view: list[RenderableType]) -> None:
    for part in view:
        console.print(part)
