"""The root conftest's service fixtures give working Kafka and Redis endpoints."""

from __future__ import annotations

import pytest

from async_toolformer.streams.devtools.stack.probes import kafka_answers, redis_answers

pytestmark = pytest.mark.connected


async def test_kafka_bootstrap_answers(kafka_bootstrap: str) -> None:
    assert await kafka_answers(kafka_bootstrap)


async def test_redis_url_answers(redis_url: str) -> None:
    assert await redis_answers(redis_url)


def test_unique_prefix_differs_per_test(unique_prefix: str) -> None:
    assert unique_prefix.startswith("t")
    assert unique_prefix.endswith(".")
