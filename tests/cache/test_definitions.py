"""Who may declare ``cache_ttl_s``: only a read-only, idempotent tool, with a bounded TTL."""

from __future__ import annotations

import math
from typing import Any

import pytest

from async_toolformer.agents.exceptions import ToolDefinitionError
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.agents.tools.registry import MAX_CACHE_TTL_S


def _define(**options: Any) -> None:
    async def probe(q: str) -> str:
        return q

    tool(registry=ToolRegistry(), **options)(probe)


def test_a_read_only_idempotent_tool_may_cache() -> None:
    registry = ToolRegistry()

    @tool(registry=registry, read_only=True, idempotent=True, cache_ttl_s=60)
    async def probe(q: str) -> str:
        return q

    spec = registry.get("probe")
    assert (spec.read_only, spec.idempotent, spec.cache_ttl_s) == (True, True, 60)


@pytest.mark.parametrize("options", [
    {"cache_ttl_s": 60},  # neither
    {"cache_ttl_s": 60, "idempotent": True},  # may change something
    {"cache_ttl_s": 60, "read_only": True},  # not idempotent
])
def test_a_tool_that_is_not_read_only_and_idempotent_cannot_cache(
        options: dict[str, object]) -> None:
    with pytest.raises(ToolDefinitionError, match="read_only=True and idempotent=True"):
        _define(**options)


@pytest.mark.parametrize("ttl", [0, -1, math.inf, math.nan, MAX_CACHE_TTL_S + 1, True, "60"])
def test_the_ttl_is_a_finite_positive_bounded_number(ttl: object) -> None:
    with pytest.raises(ToolDefinitionError, match="cache_ttl_s must be"):
        _define(read_only=True, idempotent=True, cache_ttl_s=ttl)


def test_read_only_alone_caches_nothing() -> None:
    registry = ToolRegistry()

    @tool(registry=registry, read_only=True)
    async def probe(q: str) -> str:
        return q

    assert registry.get("probe").cache_ttl_s is None
