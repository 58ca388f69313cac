"""A collector that does not answer costs spans, never calls: the worker answers every call
and still stops in order when told to."""

from __future__ import annotations

import socket

import pytest

from async_toolformer.schemas import ToolCallRequested
from async_toolformer.streams.client import ToolformerClient

from .conftest import TracedWorker

pytestmark = pytest.mark.slow


@pytest.fixture
def otlp_endpoint() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/traces"


async def test_the_worker_answers_and_stops_with_its_collector_down(
        kafka_bootstrap: str, traced_worker: TracedWorker) -> None:
    async with ToolformerClient(kafka_bootstrap, topic_prefix=traced_worker.prefix) as client:
        results = await client.run([
            ToolCallRequested(call_id=f"down-{i}", session_id=f"down-s{i % 3}", tool="noted",
                              arguments={"tag": str(i)}) for i in range(30)], timeout_s=90)
    assert [r.status for r in results] == ["ok"] * 30
    assert await traced_worker.stop(timeout_s=45), "the worker had to be killed"
    assert traced_worker.process.returncode == 0
    assert traced_worker.receiver.spans == []
