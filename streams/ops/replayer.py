"""``toolformer replay``: copy a range of ``calls`` to a replay prefix and serve it there.

The steps, in order: plan the names (:mod:`.plan`); start the replay's worker
(unless external ones serve it); copy the selected records, byte for byte and
partition for partition, to the replay's ``calls``; wait for one result per
call_id on the replay's ``results``; read the first recorded result of each call
from the live ``results``; diff them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field

from async_toolformer.agents.tools import ToolRegistry, load_tools
from async_toolformer.schemas import SchemaError, ToolCallRequested, decode_as
from async_toolformer.streams.client import partition_for
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.topics import ensure_topics
from async_toolformer.streams.ops.collector import collect_results
from async_toolformer.streams.ops.diff import diff_results
from async_toolformer.streams.ops.exceptions import ReplayError, UnguardedReplayError
from async_toolformer.streams.ops.log_reader import read_range
from async_toolformer.streams.ops.plan import ReplayPlan, plan_replay
from async_toolformer.streams.ops.report import ReplayObserver, ReplayReport, SilentObserver
from async_toolformer.streams.ops.selection import RecordRange
from async_toolformer.streams.worker.run import run_worker
from async_toolformer.streams.worker.settings import Settings


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay; see :mod:`.plan` for what ``fresh`` and ``external`` mean."""

    selection: RecordRange = field(default_factory=RecordRange)
    fresh: bool = False
    external: bool = False
    timeout_s: float = 120.0
    idle_s: float = 1.5
    replay_id: str | None = None


async def replay(settings: Settings, options: ReplayOptions, *,
                 observer: ReplayObserver | None = None,
                 registry: ToolRegistry | None = None) -> ReplayReport:
    """Replay ``options.selection`` of the ``calls`` topic of ``settings``; see the module."""
    seen = observer or SilentObserver()
    bootstrap, redis_url = settings.require_services()
    if not options.fresh and (redis_url is None or not settings.ledger):
        raise UnguardedReplayError(
            "a replay without --fresh answers calls from the execution ledger, but "
            + ("REDIS_URL is not set" if redis_url is None else "TOOLFORMER_LEDGER is off")
            + ", so every tool would run again. Point REDIS_URL at the workers' Redis, "
            "or pass --fresh to re-execute on purpose.")
    plan = plan_replay(settings, fresh=options.fresh, replay_id=options.replay_id)
    report = ReplayReport(plan, options.selection)
    started = time.monotonic()
    stop = asyncio.Event()
    worker: asyncio.Task[None] | None = None
    try:
        partitions = await _prepare_topics(bootstrap, plan, settings)
        plan = report.plan = dataclasses.replace(plan, partitions=partitions)
        seen.planned(plan)
        if not options.external:
            worker = asyncio.create_task(run_worker(
                plan.worker_settings(settings).model_copy(update={"metrics_port": None}),
                stop, registry=registry or load_tools(settings.tools), grace_s=2.0))
        call_ids, sessions = await _copy(bootstrap, plan, options, report, seen)
        seen.submitted(len(call_ids))
        collecting = asyncio.create_task(collect_results(
            bootstrap, plan.target.results, wanted=call_ids, idle_s=None,
            timeout_s=options.timeout_s, on_result=lambda _: seen.answered(1)))
        await _first_of(collecting, worker)
        new = collecting.result()
        old = await collect_results(
            bootstrap, plan.source.results, wanted=call_ids, idle_s=options.idle_s,
            timeout_s=options.timeout_s,
            partitions={partition_for(s, partitions) for s in sessions})
        report.diffs = diff_results(call_ids, old, new)
    finally:
        stop.set()
        if worker is not None and not worker.done():
            with contextlib.suppress(asyncio.CancelledError):
                await worker
    report.seconds = time.monotonic() - started
    return report


async def _prepare_topics(bootstrap: str, plan: ReplayPlan, settings: Settings) -> int:
    """Create the replay's topics with the source's partition count; return that count."""
    publisher = KafkaPublisher(bootstrap, client_id="toolformer-replay")
    async with publisher:
        partitions = len(await publisher.partitions_of(plan.source.calls) or {0})
    await ensure_topics(bootstrap, plan.target, partitions=partitions,
                        replication_factor=settings.replication_factor)
    return partitions


async def _copy(bootstrap: str, plan: ReplayPlan, options: ReplayOptions, report: ReplayReport,
                seen: ReplayObserver) -> tuple[list[str], set[str]]:
    """Copy the selected calls; return their distinct call_ids (in order) and sessions."""
    call_ids: dict[str, None] = {}
    sessions: set[str] = set()
    async with KafkaPublisher(bootstrap, client_id="toolformer-replay") as publisher:
        records = read_range(bootstrap, plan.source.calls, options.selection,
                             idle_s=options.idle_s)
        async with contextlib.aclosing(records):
            async for batch in records:
                deliveries = []
                for record in batch:
                    report.records_read += 1
                    try:
                        call = decode_as(ToolCallRequested, record.value)
                    except SchemaError:
                        report.not_calls += 1
                        continue
                    if call.call_id in call_ids:
                        report.repeated_call_ids += 1
                    call_ids[call.call_id] = None
                    sessions.add(call.session_id)
                    deliveries.append(await publisher.enqueue(
                        plan.target.calls, record.key, record.value, partition=record.partition))
                await asyncio.gather(*deliveries)
                seen.copied(len(batch))
    return list(call_ids), sessions


async def _first_of(collecting: asyncio.Task[object], worker: asyncio.Task[None] | None) -> None:
    """Wait for the results; a worker that dies first raises its error instead."""
    if worker is None:
        await collecting
        return
    await asyncio.wait({collecting, worker}, return_when=asyncio.FIRST_COMPLETED)
    if not collecting.done():
        collecting.cancel()
        worker.result()  # raises the worker's error
        raise ReplayError("the replay's worker stopped before the results arrived; run with "
                          "--debug to see its log")
