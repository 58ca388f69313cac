"""One session's trace across the test process and a worker process (exported over OTLP/HTTP):
the client's publish, the worker's admission, claim, tool attempts and publish, the model turns
and the results the session takes share one trace, each span under the right parent. Calls
whose records carry no usable trace context start a trace each. No secret reaches a span or a
log line."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from async_toolformer.agents.tracing import TRACING
from async_toolformer.schemas import ToolCallRequested, encode
from async_toolformer.streams.client import SessionClient, ToolformerClient
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.topics import TopicCatalogue

from .conftest import API_KEY, OTLP_TOKEN, REDIS_SECRET, TracedWorker
from .receiver import ReceivedSpan

pytestmark = pytest.mark.slow

CONSUMER, PRODUCER, INTERNAL, CLIENT = 5, 4, 1, 3  # OTLP's SpanKind numbers


def one(spans: list[ReceivedSpan], **match: object) -> ReceivedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(s.name, s.parent_id) for s in spans])
    return found[0]


async def until_exported(worker: TracedWorker, done: object, timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s * 10)):
        if callable(done) and done():
            return
        await asyncio.sleep(0.1)


async def test_one_session_is_one_trace_across_processes(
        kafka_bootstrap: str, traced_worker: TracedWorker,
        client_spans: InMemorySpanExporter) -> None:
    prefix = traced_worker.prefix
    topics = TopicCatalogue(prefix)
    async with SessionClient(kafka_bootstrap, topic_prefix=prefix) as sessions:
        completed = await sessions.run_session("trace this", tools=["noted", "sleep"],
                                               options={"model": "traced"}, timeout_s=90)
    assert completed.answer == "Done."
    await traced_worker.stop()  # flushes the worker's spans

    [send] = [s for s in client_spans.get_finished_spans()
              if s.name == f"send {topics.sessions}"]
    assert send.parent is None
    assert send.kind is SpanKind.PRODUCER
    trace_id = format(send.context.trace_id, "032x")
    spans = [s for s in traced_worker.receiver.spans if s.trace_id == trace_id]
    assert {s.service for s in spans} == {"tests-worker"}

    started = one(spans, name=f"process {topics.sessions}")
    assert started.parent_id == format(send.context.span_id, "016x")
    assert started.attributes["messaging.system"] == "kafka"
    assert started.attributes["messaging.consumer.group.name"] == f"{prefix}workers"
    assert "messaging.kafka.offset" in started.attributes

    turns = sorted((s for s in spans if s.name == "chat traced"),
                   key=lambda s: s.attributes["toolformer.turn"])
    assert [t.attributes["toolformer.turn"] for t in turns] == [0, 1]
    for turn in turns:
        assert turn.kind == CLIENT
        assert turn.parent_id == started.span_id
        assert turn.attributes["gen_ai.operation.name"] == "chat"
        assert turn.attributes["gen_ai.provider.name"] == "openai"
        assert turn.attributes["gen_ai.request.model"] == "traced"
        assert turn.attributes["gen_ai.usage.input_tokens"] > 0
        assert turn.attributes["gen_ai.usage.output_tokens"] > 0

    assert turns[0].links == ()
    calls = [s for s in spans if s.kind == CONSUMER and "gen_ai.tool.call.id" in s.attributes
             and s.name.startswith("execute_tool")]
    assert sorted(c.attributes["gen_ai.tool.name"] for c in calls) == ["noted", "sleep"]
    for call in calls:
        tool = call.attributes["gen_ai.tool.name"]
        assert call.parent_id == turns[0].span_id  # dispatched by the first turn
        assert call.attributes["messaging.destination.name"] == topics.calls
        under = [s for s in spans if s.parent_id == call.span_id]
        names = sorted(s.name for s in under)
        assert names == sorted(["admit", "ledger claim", f"execute_tool {tool}",
                                f"send {topics.results}"]), names
        attempt = one(under, name=f"execute_tool {tool}")
        assert attempt.kind == INTERNAL
        assert attempt.attributes["toolformer.attempt"] == 1
        published = one(under, name=f"send {topics.results}")
        assert published.kind == PRODUCER
        taken = one(spans, name=f"process {topics.results}", parent_id=published.span_id)
        assert taken.attributes["gen_ai.tool.call.id"] == call.attributes["gen_ai.tool.call.id"]
        assert taken.span_id in turns[1].links  # the next turn answers this result

    # The tool's log line names its call, and the trace and span it ran under.
    noted = one(calls, name="execute_tool noted")
    lines = [orjson.loads(line) for line in traced_worker.log_lines() if line.startswith("{")]
    [line] = [line for line in lines if line["message"] == "noted first-turn"]
    assert line["call_id"] == noted.attributes["gen_ai.tool.call.id"]
    assert (line["trace_id"], line["span_id"]) == (trace_id, noted.span_id)

    # No secret in what was exported or logged; the collector's credential went as a header.
    assert f"Bearer {OTLP_TOKEN}" in traced_worker.receiver.authorizations
    exported = b"".join(traced_worker.receiver.bodies)
    logged = traced_worker.log.read_bytes()
    for secret in (API_KEY, OTLP_TOKEN, REDIS_SECRET):
        assert secret.encode() not in exported
        assert secret.encode() not in logged


async def test_records_without_usable_trace_context_start_a_trace_each(
        kafka_bootstrap: str, traced_worker: TracedWorker) -> None:
    assert not TRACING.on  # the test process sends no context of its own
    prefix = traced_worker.prefix
    topics = TopicCatalogue(prefix)
    session = f"s-{uuid.uuid4().hex[:8]}"
    valid = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers: dict[str, list[tuple[str, bytes]] | None] = {
        "none": None,
        "malformed": [("traceparent", b"00-zz-not-a-trace-01")],
        "oversized": [("traceparent", valid + b"0" * 600)],
        "binary": [("traceparent", "00-\u00e9".encode() + valid[4:])],
        "buried": [*(("x-junk", b"j") for _ in range(200)), ("traceparent", valid)],
    }
    async with KafkaPublisher(kafka_bootstrap) as publisher, \
            ToolformerClient(kafka_bootstrap, topic_prefix=prefix) as client:
        results = client.follow(session)
        for name, sent in headers.items():
            call = ToolCallRequested(call_id=f"c-{name}", session_id=session, tool="echo",
                                     arguments={"which": name})
            assert await publisher.publish_headed(topics.calls, session.encode(), encode(call),
                                                  sent)
        unknown = ToolCallRequested(call_id="c-unknown", session_id=session,
                                    tool="no_such_tool_" + "z" * 200, arguments={})
        assert await publisher.publish_headed(topics.calls, session.encode(), encode(unknown),
                                              [("traceparent", valid)])
        statuses: dict[str, str] = {}
        async with asyncio.timeout(60):
            async for result in results:
                statuses[result.call_id] = result.status
                if len(statuses) == len(headers) + 1:
                    break
    assert statuses == {**{f"c-{name}": "ok" for name in headers}, "c-unknown": "rejected"}
    await traced_worker.stop()
    processed = {s.attributes["gen_ai.tool.call.id"]: s for s in traced_worker.receiver.spans
                 if s.kind == CONSUMER and s.name == "execute_tool echo"}
    roots = [processed[f"c-{name}"] for name in headers]
    assert all(span.parent_id == "" for span in roots)
    assert len({span.trace_id for span in roots}) == len(headers)
    assert valid.split(b"-")[1].decode() not in {span.trace_id for span in roots}
    # A refused call continues its caller's trace; a tool name it made up names no span.
    [refused] = [s for s in traced_worker.receiver.spans
                 if s.attributes.get("gen_ai.tool.call.id") == "c-unknown"]
    assert refused.name == f"process {topics.calls}"
    assert refused.attributes["toolformer.refused"] == "unknown_tool"
    assert refused.trace_id == valid.split(b"-")[1].decode()
    assert "gen_ai.tool.name" not in refused.attributes
