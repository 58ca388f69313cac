"""The bulk path of replay: recorded calls answered from the ledger by the replayer itself,
only the others copied to a worker; and reading a range does not stop while its reader works."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka import AIOKafkaProducer

from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.ops import RecordRange, ReplayOptions, Verdict, replay
from async_toolformer.streams.ops.collector import collect_wires
from async_toolformer.streams.ops.log_reader import read_range
from async_toolformer.streams.ops.old_results import OldResults
from async_toolformer.streams.redis.ledger import ExecutionLedger, call_key
from tests.conftest import TopicFactory
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


async def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    found: list[bytes] = []
    records = read_range(bootstrap, topic, RecordRange(), idle_s=1.0)
    async with contextlib.aclosing(records):
        async for batch in records:
            found.extend(r.value for r in batch)
    return found


async def test_recorded_calls_are_reemitted_in_bulk_and_only_the_rest_reach_a_worker(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    settings = pipeline.settings
    assert settings.kafka_bootstrap_servers is not None
    assert settings.redis_url is not None
    calls = _charges("bk", 30)
    first = await pipeline.client.run(calls, timeout_s=60)
    assert all(r.status is CallStatus.OK for r in first)
    assert _executions("bk") == 30
    forgotten = {c.call_id for c in calls[::6]}  # their records expired, say
    ledger = ExecutionLedger.from_url(settings.redis_url, namespace=settings.ledger_namespace)
    try:
        await ledger.redis.delete(*(ledger.key(call_key(c)) for c in forgotten))
    finally:
        await ledger.aclose()

    report = await replay(settings, ReplayOptions(timeout_s=60))

    print("bulk replay:", report.summary())
    assert _executions("bk") == 30 + len(forgotten)  # only the calls without a record ran
    verdicts = {d.call_id: d.verdict for d in report.diffs}
    assert {c for c, v in verdicts.items() if v is Verdict.IDENTICAL} == \
        {c.call_id for c in calls} - forgotten
    assert {c for c, v in verdicts.items() if v is Verdict.SAME_OUTCOME} == forgotten
    assert report.reexecuted == len(forgotten)
    bootstrap = settings.kafka_bootstrap_servers
    copied = await _read_all(bootstrap, report.plan.target.calls)
    assert sorted(ToolCallRequested.model_validate_json(v).call_id for v in copied) == \
        sorted(forgotten)  # the recorded ones never went through the replay's calls
    old = await collect_wires(bootstrap, settings.topic_prefix + "results")
    new = await collect_wires(bootstrap, report.plan.target.results)
    assert set(new) == {c.call_id for c in calls}
    assert all(new[c.call_id] == old[c.call_id] for c in calls if c.call_id not in forgotten)


async def test_a_slow_reader_gets_every_record(kafka_bootstrap: str,
                                               topic_factory: TopicFactory) -> None:
    topic = await topic_factory(2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i in range(60):
            await producer.send(topic, b"%d" % i, partition=i % 2)
        await producer.flush()
    finally:
        await producer.stop()

    seen: list[bytes] = []
    records = read_range(kafka_bootstrap, topic, RecordRange(), idle_s=0.2, batch=10)
    async with contextlib.aclosing(records):
        async for batch in records:
            seen.extend(r.value for r in batch)
            await asyncio.sleep(0.3)  # longer than idle_s: the reader's clock must not run

    assert sorted(seen, key=int) == [b"%d" % i for i in range(60)]


@pytest.mark.parametrize("hold", [1, 100])
async def test_old_results_read_alongside_the_copy_find_every_wanted_one(
        kafka_bootstrap: str, topic_factory: TopicFactory, hold: int) -> None:
    topic = await topic_factory(2)
    wires = {f"o{i}": b'{"type":"tool_call_completed","call_id":"o%d","n":%d}' % (i, i)
             for i in range(20)}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for i, wire in enumerate(wires.values()):
            await producer.send(topic, wire, partition=i % 2)
        await producer.send(topic, b'{"type":"tool_call_completed","call_id":"o3","n":"again"}')
        await producer.flush()
    finally:
        await producer.stop()
    read: dict[str, None] = {}  # the copy has read nothing yet: every result is held aside
    old = OldResults(kafka_bootstrap, topic, read=read, partitions=None, idle_s=0.5,
                     timeout_s=30, hold=hold)
    old.start()
    await asyncio.sleep(1.0)
    wanted = [f"o{i}" for i in range(0, 20, 2)] + ["never"]
    read.update(dict.fromkeys(wanted))

    found = await old.wanted(wanted, partitions={0, 1})

    assert found == {c: wires[c] for c in wanted if c in wires}  # the first of each


async def test_a_record_of_another_execution_is_never_reemitted_for_a_call(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    settings = pipeline.settings
    assert settings.kafka_bootstrap_servers is not None
    [mine] = _charges("cf", 1)
    theirs = mine.model_copy(update={"arguments": {"account": "cf-acct-0", "cents": 999}})
    [first] = await pipeline.client.run([mine], timeout_s=60)
    [second] = await pipeline.client.run([theirs], timeout_s=60)
    assert first.status is CallStatus.OK
    assert second.status is CallStatus.REJECTED  # a Conflict: the call_id is mine
    assert _executions("cf") == 1

    report = await replay(settings, ReplayOptions(timeout_s=60))

    assert _executions("cf") == 1
    assert report.repeated_call_ids == 1
    copied = await _read_all(settings.kafka_bootstrap_servers, report.plan.target.calls)
    assert [ToolCallRequested.model_validate_json(v).arguments for v in copied] == \
        [theirs.arguments]  # only the other execution went to a worker, which said Conflict
    [diff] = report.diffs  # the first result per call_id: my record, re-emitted
    assert diff.verdict is Verdict.IDENTICAL
    assert diff.new is not None
    assert diff.new.output == first.output
