"""Tracing off (the default): a session and plain calls through a real worker make no span and
put no header on any record, even with a recording tracer at hand."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from async_toolformer.agents.tools import load_tools
from async_toolformer.agents.tracing import TRACING
from async_toolformer.schemas import ToolCallRequested
from async_toolformer.streams.client import SessionClient, ToolformerClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

from .conftest import SCRIPT

pytestmark = pytest.mark.slow


async def record_headers(bootstrap: str, topic: str, partitions: int) -> list[list[object]]:
    """The headers of every record of ``topic`` so far."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        found: list[list[object]] = []
        async with asyncio.timeout(30):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(list(r.headers) for r in records)
        return found
    finally:
        await consumer.stop()


async def test_tracing_off_makes_no_span_and_adds_no_header(
        kafka_bootstrap: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(TRACING, "tracer", provider.get_tracer("tests"))  # at hand, not on
    assert not TRACING.on
    name = f"off{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url,
                        topic_prefix=f"{name}.", group_id=f"{name}-workers",
                        worker_id=f"{name}-w1", partitions=2, metrics_port=None,
                        tools=["tests.tracing.tools_for_tracing"], gc_tuning=False)
    topics = TopicCatalogue(settings.topic_prefix)
    await ensure_topics(kafka_bootstrap, topics, partitions=2)
    async with FakeLLMServer(SCRIPT) as llm:
        monkeypatch.setenv("TOOLFORMER_LLM_BASE_URL", llm.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        stop = asyncio.Event()
        ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_worker(
            settings, stop, registry=load_tools(["tests.tracing.tools_for_tracing"]), grace_s=1,
            on_started=ready.set_result, llm=LLMSettings()))
        try:
            await asyncio.wait_for(ready, 60)
            async with SessionClient(kafka_bootstrap, topic_prefix=settings.topic_prefix) as s, \
                    ToolformerClient(kafka_bootstrap, topic_prefix=settings.topic_prefix) as c:
                completed = await s.run_session("untraced", tools=["noted", "sleep"],
                                                options={"model": "traced"}, timeout_s=60)
                results = await c.run([ToolCallRequested(
                    call_id=f"{name}-c{i}", session_id=f"{name}-s", tool="noted",
                    arguments={"tag": str(i)}) for i in range(3)], timeout_s=60)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    assert completed.answer == "Done."
    assert [r.status for r in results] == ["ok"] * 3
    assert exporter.get_finished_spans() == ()
    for topic in (topics.sessions, topics.calls, topics.results):
        headers = await record_headers(kafka_bootstrap, topic, 2)
        assert headers, topic
        assert all(h == [] for h in headers), (topic, headers[:3])
