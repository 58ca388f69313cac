"""Replay end to end: the live ledger re-emits without running; ``fresh`` runs everything again."""

from __future__ import annotations

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.ops import RecordRange, ReplayOptions, Verdict, replay
from tests.pipeline import tools_for_tests
from tests.pipeline.conftest import PipelineFactory

pytestmark = [pytest.mark.connected, pytest.mark.slow]


def _charges(tag: str, n: int) -> list[ToolCallRequested]:
    return [ToolCallRequested(call_id=f"{tag}-{i}", session_id=f"{tag}-s{i % 5}", tool="charge",
                              arguments={"account": f"{tag}-acct-{i}", "cents": i})
            for i in range(n)]


def _executions(tag: str) -> int:
    return sum(n for account, n in tools_for_tests.executions.items()
               if account.startswith(f"{tag}-"))


async def test_live_ledger_replay_runs_nothing_and_fresh_runs_all(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    calls = _charges("rp", 40)
    first = await pipeline.client.run(calls, timeout_s=60)
    assert all(r.status is CallStatus.OK for r in first)
    assert _executions("rp") == 40

    live = await replay(pipeline.settings, ReplayOptions(timeout_s=60))

    counts = live.summary()
    print("live replay:", counts)
    assert _executions("rp") == 40  # no tool ran
    assert live.calls == 40
    assert counts[Verdict.IDENTICAL] == 40  # the recorded events, re-emitted unchanged
    assert live.reexecuted == 0

    fresh = await replay(pipeline.settings, ReplayOptions(fresh=True, timeout_s=60))

    print("fresh replay:", fresh.summary())
    assert _executions("rp") == 80  # every tool ran once more
    assert fresh.reexecuted == 40
    assert all(d.verdict is Verdict.SAME_OUTCOME for d in fresh.diffs)
    assert all(d.new is not None and d.new.worker_id.endswith(f"replay-{fresh.plan.replay_id}")
               for d in fresh.diffs)


async def test_a_range_selects_by_partition_and_offset(pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    calls = [ToolCallRequested(call_id=f"rg-{i}", session_id="rg-one-session", tool="echo",
                               arguments={"i": i}) for i in range(12)]
    await pipeline.client.run(calls, timeout_s=60)
    from async_toolformer.streams.client import partition_for

    partition = partition_for("rg-one-session", pipeline.settings.partitions)
    selection = RecordRange(partitions=(partition,), from_offset=3, to_offset=7)

    report = await replay(pipeline.settings, ReplayOptions(selection=selection, timeout_s=60))

    assert report.records_read == 5
    assert [d.call_id for d in report.diffs] == [f"rg-{i}" for i in range(3, 8)]
    assert all(d.verdict is Verdict.IDENTICAL for d in report.diffs)
