"""A worker in a child process exporting its spans over OTLP/HTTP to a receiver the test runs,
and the client side of the test process recording its own spans in memory."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.tracing import tracing_with

from .receiver import OtlpReceiver

API_KEY = "sk-tracing-secret-7f3a9c"  # must never reach a span or a log line
OTLP_TOKEN = "otlp-secret-token-91b2e"  # the collector's credential, sent as a header only
REDIS_USER, REDIS_SECRET = "tracing-tests", "redis-url-secret-4d1c"  # in the worker's REDIS_URL

SCRIPT: dict[str, Any] = {
    "defaults": {"latency_ms": 5, "token_delay_ms": 1, "chunk_chars": 16},
    "conversations": {
        "traced": {"turns": [
            {"text": "Working.", "tool_calls": [
                {"name": "noted", "arguments": {"tag": "first-turn"}},
                {"name": "sleep", "arguments": {"ms": 30}}]},
            {"text": "Done."},
        ]},
    },
}


@dataclass
class TracedWorker:
    """A ``toolformer worker`` child with traces on, and what it logged."""

    prefix: str
    receiver: OtlpReceiver
    log: Path
    process: asyncio.subprocess.Process

    async def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM: the worker shuts down in order and flushes its spans; False if it had
        to be killed after ``timeout_s``."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
                return False
        return True

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@pytest.fixture
def client_spans() -> Iterator[InMemorySpanExporter]:
    """Traces on in the test process, to memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    setup = tracing_with(SimpleSpanProcessor(exporter), service_name="tests-client")
    try:
        yield exporter
    finally:
        setup.close()


@pytest.fixture
def otlp_endpoint() -> str | None:
    """Where the worker exports; None: the test's receiver (a test module may override)."""
    return None


@pytest_asyncio.fixture(loop_scope="session")
async def traced_worker(kafka_bootstrap: str, redis_url: str, tmp_path: Path,
                        otlp_endpoint: str | None) -> AsyncIterator[TracedWorker]:
    prefix = f"tr{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, TopicCatalogue(prefix), partitions=2)
    receiver = OtlpReceiver()
    await receiver.start()
    log = tmp_path / "worker.log"
    admin = Redis.from_url(redis_url)
    try:  # a user of the tests' own Redis whose password the worker's REDIS_URL carries
        await admin.acl_setuser(REDIS_USER, enabled=True, passwords=[f"+{REDIS_SECRET}"],
                                keys=["*"], channels=["*"], categories=["+@all"])
    finally:
        await admin.aclose()
    parts = urlsplit(redis_url)
    secret_url = urlunsplit(parts._replace(
        netloc=f"{REDIS_USER}:{REDIS_SECRET}@{parts.netloc.rpartition('@')[2]}"))
    async with FakeLLMServer(SCRIPT) as llm:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "REDIS_URL": secret_url,
            "TOOLFORMER_TOPIC_PREFIX": prefix,
            "TOOLFORMER_GROUP_ID": f"{prefix}workers",
            "TOOLFORMER_PARTITIONS": "2",
            "TOOLFORMER_WORKER_ID": f"{prefix}w1",
            "TOOLFORMER_METRICS_PORT": "0",
            "TOOLFORMER_TOOLS": '["tests.tracing.tools_for_tracing"]',
            "TOOLFORMER_LOG_FORMAT": "json",
            "TOOLFORMER_LLM_BASE_URL": llm.base_url,
            "OPENAI_API_KEY": API_KEY,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp_endpoint or receiver.endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {OTLP_TOKEN}",
            "OTEL_SERVICE_NAME": "tests-worker",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "async_toolformer.streams.cli", "worker", env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        worker = TracedWorker(prefix, receiver, log, process)
        try:
            yield worker
        finally:
            await worker.stop()
            await receiver.stop()
