"""A record the broker refuses for good is an error the caller sees, never a silent drop."""

from __future__ import annotations

import pytest

from async_toolformer.streams.client import PublishRefusedError, SessionClient, ToolformerClient
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics

pytestmark = pytest.mark.connected

OVER_ONE_MIB = "x" * (1_100_000)  # over the producer's 1 MiB max_request_size


async def test_a_refused_cancellation_raises_and_a_small_one_goes_through(
        kafka_bootstrap: str, unique_prefix: str) -> None:
    await ensure_topics(kafka_bootstrap, TopicCatalogue(unique_prefix), partitions=1)
    async with ToolformerClient(kafka_bootstrap, topic_prefix=unique_prefix) as client:
        with pytest.raises(PublishRefusedError, match="cancellations"):
            await client.cancel_branch("s-1", "b-1", reason=OVER_ONE_MIB)
        with pytest.raises(PublishRefusedError, match="session 's-1'"):
            await client.cancel_session("s-1", reason=OVER_ONE_MIB)
        await client.cancel_branch("s-1", "b-1", reason="small enough")


async def test_a_refused_session_start_raises(kafka_bootstrap: str, unique_prefix: str) -> None:
    await ensure_topics(kafka_bootstrap, TopicCatalogue(unique_prefix), partitions=1)
    async with SessionClient(kafka_bootstrap, topic_prefix=unique_prefix) as sessions:
        with pytest.raises(PublishRefusedError, match="session_started"):
            await sessions.run_session(OVER_ONE_MIB, session_id="s-big", timeout_s=30)
