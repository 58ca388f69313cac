"""Rebuilt from the real log (embedded broker), the predictor equals the one learned online."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from async_toolformer.agents.speculation import TransitionPredictor, dump
from async_toolformer.schemas import (
    CallStatus,
    CallTimings,
    ToolCallCompleted,
    ToolCallRequested,
    encode,
)
from async_toolformer.streams.devtools.bench.speculation_offline import (
    simulate,
    train,
    turn_label,
)
from async_toolformer.streams.devtools.bench.speculation_workload import (
    WorkSession,
    generate,
    output_of,
)
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.ops.speculation_log import rebuild

pytestmark = pytest.mark.connected

BASE = datetime(2026, 12, 1, tzinfo=UTC)


def _records(sessions: list[WorkSession]) -> tuple[list[tuple[str, bytes]],
                                                   list[tuple[str, bytes]]]:
    """The sessions' calls and results as the pipeline would log them, interleaved."""
    calls: list[tuple[str, bytes]] = []
    results: list[tuple[str, bytes]] = []
    longest = max(len(s.turns) for s in sessions)
    for k in range(longest):  # turn k of every session, then turn k + 1: sessions overlap
        for n, session in enumerate(sessions):
            if k >= len(session.turns):
                continue
            at = BASE + timedelta(seconds=n, milliseconds=20 * k)
            for call in session.turns[k]:
                calls.append((session.session_id, encode(ToolCallRequested(
                    call_id=call.call_id, session_id=session.session_id, tool=call.tool,
                    arguments=call.arguments, tenant=session.tenant, requested_at=at,
                    metadata={"llm_call_id": turn_label(session, k)}))))
                done = at + timedelta(milliseconds=5)
                results.append((session.session_id, encode(ToolCallCompleted(
                    call_id=call.call_id, session_id=session.session_id, tool=call.tool,
                    status=CallStatus.OK, output=output_of(call.tool, call.arguments),
                    worker_id="w1", timings=CallTimings(
                        requested_at=at, received_at=at, started_at=at, finished_at=done,
                        queue_ms=0, run_ms=5)))))
    return calls, results


async def test_rebuild_from_the_log_equals_online_learning(kafka_bootstrap: str,
                                                            unique_prefix: str) -> None:
    sessions = generate(31, 40)
    topics = TopicCatalogue(unique_prefix)
    await ensure_topics(kafka_bootstrap, topics, partitions=3)
    calls, results = _records(sessions)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for key, value in calls:
            await producer.send(topics.calls, value, key=key.encode())
        await producer.send(topics.calls, b"{not json", key=b"junk")
        for key, value in results:
            await producer.send(topics.results, value, key=key.encode())
        await producer.send(topics.results, results[0][1].replace(b'"ok"', b'"??"'),
                            key=b"junk")
        await producer.flush()
    finally:
        await producer.stop()

    online = TransitionPredictor()
    train(online, sessions)
    rebuilt = TransitionPredictor()
    report = await rebuild(rebuilt, kafka_bootstrap, topics=topics)

    assert report.fed.sessions == len(sessions)
    assert report.fed.calls == len(calls)
    assert report.fed.results == len(results)
    assert report.undecodable == 2
    assert rebuilt.tenants() == ["bench"]
    assert dump(rebuilt.model("bench")) == dump(online.model("bench"))
    assert dump(online.model("bench"))["follow"]  # it learned something
    held = generate(32, 30, prefix="held")
    assert simulate(rebuilt, held) == simulate(online, held)

    other = TransitionPredictor()
    nothing = await rebuild(other, kafka_bootstrap, topics=topics, tenant="someone-else")
    assert nothing.fed.sessions == 0
    assert other.tenants() == []

    blind = TransitionPredictor()
    capped = await rebuild(blind, kafka_bootstrap, topics=topics, max_output_bytes=10)
    assert capped.outputs_dropped == len(results)
    sources = str(dump(blind.model("bench")))
    assert "'result'" not in sources  # no output was kept, so none explains an argument
    assert "'result'" in str(dump(online.model("bench")))

    short = await rebuild(TransitionPredictor(), kafka_bootstrap, topics=topics, max_records=5)
    assert short.truncated
    assert short.fed.calls == 5
    assert not report.truncated
