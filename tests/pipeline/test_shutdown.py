"""A worker whose broker is gone still stops when told to.

Faust's final commit and the producer's flush wait for the broker; with the
broker gone they wait forever, and before the shutdown deadline a SIGTERM left
the worker running until SIGKILL.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from async_toolformer.schemas import ToolCallRequested
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.devtools.stack.broker import EmbeddedBroker
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.settings import Settings

from .processes import WorkerProcess

pytestmark = [pytest.mark.connected, pytest.mark.slow]

DEADLINE_S = 4


async def test_sigterm_stops_a_worker_whose_broker_is_gone() -> None:
    name = f"orphan{uuid.uuid4().hex[:8]}"
    async with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=f"{name}.",
                            group_id=f"{name}-workers", partitions=2)
        await ensure_topics(bootstrap, TopicCatalogue(settings.topic_prefix), partitions=2)
        worker = WorkerProcess(settings, name, {
            "TOOLFORMER_SHUTDOWN_TIMEOUT_S": str(DEADLINE_S)})
        await worker.start()
        assert worker.process is not None
        try:
            async with ToolformerClient(bootstrap, topic_prefix=settings.topic_prefix) as client:
                await client.run([ToolCallRequested(call_id="probe", session_id="probe",
                                                    tool="echo")], timeout_s=60)
        except BaseException:
            worker.kill()
            raise
    # The broker is gone now. Told to stop, the worker exits: by its own shutdown or,
    # when that hangs on the broker, at the deadline. Never does it need SIGKILL.
    worker.process.terminate()
    try:
        code = await asyncio.wait_for(worker.process.wait(), DEADLINE_S + 26)
    finally:
        worker.kill()
    assert code is not None
