"""``toolformer replay``: copy a range of ``calls`` to a replay prefix and serve it there.

The steps, in order: plan the names (:mod:`.plan`); read the selected records
and, against the live ledger, answer every call already recorded by publishing
its record to the replay's ``results`` in bulk (:mod:`.copier`); copy the others,
byte for byte and partition for partition, to the replay's ``calls`` for a worker
(started here at the first such call, unless external ones serve it) and wait
for their results; meanwhile, from the start, read the first recorded result of
each call from the live ``results`` (:mod:`.old_results`); diff them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from async_toolformer.agents.tools import ToolRegistry, load_tools
from async_toolformer.streams.client import partition_for
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import ensure_topics
from async_toolformer.streams.ops.collector import collect_wires
from async_toolformer.streams.ops.copier import CopiedCalls, copy_calls
from async_toolformer.streams.ops.diff import diff_wires
from async_toolformer.streams.ops.exceptions import ReplayError, UnguardedReplayError
from async_toolformer.streams.ops.old_results import OldResults
from async_toolformer.streams.ops.plan import ReplayPlan, plan_replay
from async_toolformer.streams.ops.report import ReplayObserver, ReplayReport, SilentObserver
from async_toolformer.streams.ops.selection import RecordRange
from async_toolformer.streams.redis.client import redis_security_options
from async_toolformer.streams.redis.ledger import ExecutionLedger
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
    with _fewer_collections():
        return await _replay(settings, options, observer=observer, registry=registry)


@contextlib.contextmanager
def _fewer_collections(young: int = 50_000) -> Iterator[None]:
    """Collect young objects every ``young`` allocations while replaying, not every 700.

    A replay allocates a few objects per record and reference counting frees
    nearly all of them; at the interpreter's threshold the collector ran 135
    times over 10,200 records, and one of those, a full collection of the
    caller's heap, took 137 ms: a fifth of the replay. The threshold is given
    back afterwards (this is the process's setting, for the replay's duration).
    """
    before = gc.get_threshold()
    if before[0] == 0 or before[0] >= young:  # collection off, or rarer already
        yield
        return
    gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def _replay(settings: Settings, options: ReplayOptions, *,
                  observer: ReplayObserver | None, registry: ToolRegistry | None
                  ) -> ReplayReport:
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
    security = KafkaSecurity.from_settings(settings)
    workers = _Workers(settings, plan, options, registry)
    ledger = (ExecutionLedger.from_url(redis_url, namespace=plan.ledger_namespace,
                                       connection=redis_security_options(settings))
              if redis_url is not None and not plan.fresh else None)
    copied = CopiedCalls()
    old_results = OldResults(bootstrap, plan.source.results, read=copied.call_ids,
                             partitions=options.selection.partitions, idle_s=options.idle_s,
                             timeout_s=options.timeout_s, security=security)
    try:
        partitions = await _prepare_topics(bootstrap, plan, settings)
        plan = report.plan = workers.plan = dataclasses.replace(plan, partitions=partitions)
        seen.planned(plan)
        if plan.fresh:
            workers.start()  # every call runs again: let the worker join while copying
        old_results.start()  # the live results are read while the copy runs
        await copy_calls(bootstrap, plan, options.selection, idle_s=options.idle_s,
                         report=report, seen=seen, ledger=ledger, on_copied=workers.start,
                         security=security, into=copied)
        seen.submitted(len(copied.call_ids))
        seen.answered(len(copied.reemitted))
        new = await _served(bootstrap, plan, options, copied, workers=workers, seen=seen,
                            security=security)
        old = await old_results.wanted(
            copied.call_ids, partitions={partition_for(s, partitions) for s in copied.sessions})
        report.diffs = diff_wires(copied.call_ids, old, new)
    finally:
        await old_results.stop()
        await workers.stop()
        if ledger is not None:
            await ledger.aclose()
    report.seconds = time.monotonic() - started
    return report


class _Workers:
    """The replay's own worker: started only once a call needs one, unless ``external``."""

    def __init__(self, settings: Settings, plan: ReplayPlan, options: ReplayOptions,
                 registry: ToolRegistry | None) -> None:
        self.plan = plan
        self._settings = settings
        self._external = options.external
        self._registry = registry
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._external or self.task is not None:
            return
        self.task = asyncio.create_task(run_worker(
            self.plan.worker_settings(self._settings).model_copy(update={"metrics_port": None}),
            self._stop, registry=self._registry or load_tools(self._settings.tools),
            grace_s=2.0))

    async def stop(self) -> None:
        self._stop.set()
        if self.task is not None and not self.task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def _served(bootstrap: str, plan: ReplayPlan, options: ReplayOptions,
                  copied: CopiedCalls, *, workers: _Workers, seen: ReplayObserver,
                  security: KafkaSecurity) -> dict[str, bytes]:
    """The new result of each call: re-emitted from the ledger, or a worker's."""
    waiting = [c for c in copied.to_workers if c not in copied.reemitted]
    if not waiting:
        return copied.reemitted
    collecting = asyncio.create_task(collect_wires(
        bootstrap, plan.target.results, wanted=waiting, idle_s=None,
        timeout_s=options.timeout_s, on_result=lambda _: seen.answered(1),
        security=security))
    await _first_of(collecting, workers.task)
    return {**collecting.result(), **copied.reemitted}


async def _prepare_topics(bootstrap: str, plan: ReplayPlan, settings: Settings) -> int:
    """Create the replay's topics with the source's partition count; return that count."""
    security = KafkaSecurity.from_settings(settings)
    publisher = KafkaPublisher(bootstrap, client_id="toolformer-replay", security=security)
    async with publisher:
        partitions = len(await publisher.partitions_of(plan.source.calls) or {0})
    await ensure_topics(bootstrap, plan.target, partitions=partitions,
                        replication_factor=settings.replication_factor, security=security)
    return partitions


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
