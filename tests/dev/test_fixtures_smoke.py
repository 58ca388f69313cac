"""The root conftest's service fixtures give working Kafka and Redis endpoints."""

from __future__ import annotations

import re

import pytest

from async_toolformer.streams.devtools.stack.probes import kafka_answers, redis_answers

pytestmark = pytest.mark.connected


async def test_kafka_bootstrap_answers(kafka_bootstrap: str) -> None:
    assert await kafka_answers(kafka_bootstrap)


async def test_redis_url_answers(redis_url: str) -> None:
    assert await redis_answers(redis_url)


_SEEN_PREFIXES: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_unique_prefix_differs_per_test(unique_prefix: str, run: int) -> None:
    """Each test gets a prefix no other test got: t, ten hex digits, a dot."""
    assert re.fullmatch(r"t[0-9a-f]{10}\.", unique_prefix)
    assert unique_prefix not in _SEEN_PREFIXES, f"run {run} reused a prefix"
    _SEEN_PREFIXES.append(unique_prefix)
