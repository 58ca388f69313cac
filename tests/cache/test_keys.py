"""Canonical keys: what makes two calls the same question, and what has no key."""

from __future__ import annotations

from typing import Any

import pytest

from async_toolformer.agents.executor.cache_keys import (
    MAX_KEY_BYTES,
    MAX_KEY_DEPTH,
    CacheKey,
    Uncacheable,
    cache_key_of,
    canonical_arguments,
)
from async_toolformer.agents.tools import ToolRegistry, ToolSpec, tool

_registry = ToolRegistry()


@tool(registry=_registry, read_only=True, idempotent=True, cache_ttl_s=30)
async def price(sku: str, scale: float = 1.0, count: int = 1, currency: str = "EUR",
                extra: Any = None) -> str:
    return sku


@tool(registry=_registry, read_only=True, idempotent=True, cache_ttl_s=30)
async def stock(sku: str, scale: float = 1.0, count: int = 1, currency: str = "EUR",
                extra: Any = None) -> str:
    return sku


@tool(registry=_registry)
async def uncached(sku: str) -> str:
    return sku


PRICE = _registry.get("price")


def _key(arguments: dict[str, Any], *, tenant: str = "t1", spec: ToolSpec = PRICE) -> str:
    key = cache_key_of(tenant, spec, arguments)
    assert isinstance(key, CacheKey), key
    return key.digest


def test_key_order_does_not_matter() -> None:
    assert _key({"sku": "a", "currency": "USD"}) == _key({"currency": "USD", "sku": "a"})


def test_float_fields_take_1_and_1_0_alike_and_int_fields_too() -> None:
    assert _key({"sku": "a", "scale": 1}) == _key({"sku": "a", "scale": 1.0})
    assert _key({"sku": "a", "count": 2}) == _key({"sku": "a", "count": 2.0})


def test_defaults_are_filled_in_before_the_key() -> None:
    assert _key({"sku": "a"}) == _key({"sku": "a", "scale": 1.0, "count": 1,
                                       "currency": "EUR", "extra": None})


def test_untyped_numbers_keep_their_form() -> None:
    assert _key({"sku": "a", "extra": 1}) != _key({"sku": "a", "extra": 1.0})
    assert _key({"sku": "a", "extra": 0.0}) != _key({"sku": "a", "extra": -0.0})


def test_nested_key_order_does_not_matter_either() -> None:
    assert (_key({"sku": "a", "extra": {"x": 1, "y": [1, {"b": 2, "a": 1}]}})
            == _key({"sku": "a", "extra": {"y": [1, {"a": 1, "b": 2}], "x": 1}}))


def test_different_questions_have_different_keys() -> None:
    base = _key({"sku": "a"})
    assert base != _key({"sku": "b"})
    assert base != _key({"sku": "a"}, tenant="t2")  # tenants never share an entry
    assert base != _key({"sku": "a"}, spec=_registry.get("stock"))  # nor do tools
    assert base != _key({"sku": "a", "extra": "1"})
    assert _key({"sku": "a", "extra": True}) != _key({"sku": "a", "extra": 1})


def test_the_tenant_and_tool_split_cannot_collide() -> None:
    # ["a:b", "c"] and ["a", "b:c"] are different closed arrays
    assert _key({"sku": "a"}, tenant="x\",\"price") != _key({"sku": "a"}, tenant="x")


@pytest.mark.parametrize(("arguments", "reason"), [
    ({"sku": "a", "scale": "NaN"}, "not_finite"),
    ({"sku": "a", "scale": "inf"}, "not_finite"),
    ({"sku": "a", "scale": "-Infinity"}, "not_finite"),
    ({"sku": "a", "extra": float("nan")}, "not_finite"),
    ({"sku": "a", "count": "many"}, "invalid_arguments"),
    ({"sku": "a", "unknown": 1}, "invalid_arguments"),
    ({"sku": "a", "extra": "x" * (MAX_KEY_BYTES + 1)}, "too_large"),
    ({"sku": "a", "extra": list(range(20_000))}, "too_many"),
])
def test_arguments_without_an_exact_key_run_uncached(arguments: dict[str, Any],
                                                     reason: str) -> None:
    assert cache_key_of("t1", PRICE, arguments) == Uncacheable(reason)


def test_deep_nesting_runs_uncached() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_KEY_DEPTH + 1):
        deep = [deep]
    assert cache_key_of("t1", PRICE, {"sku": "a", "extra": deep}) == Uncacheable("too_deep")
    shallow: Any = "leaf"
    for _ in range(MAX_KEY_DEPTH - 2):
        shallow = {"k": shallow}
    assert isinstance(cache_key_of("t1", PRICE, {"sku": "a", "extra": shallow}), CacheKey)


def test_ints_past_64_bits_still_have_a_key() -> None:
    assert _key({"sku": "a", "extra": 2**70}) != _key({"sku": "a", "extra": 2**70 + 1})


def test_a_tool_without_a_ttl_has_no_key() -> None:
    assert isinstance(cache_key_of("t1", _registry.get("uncached"), {"sku": "a"}), Uncacheable)


def test_the_canonical_form_is_sorted_compact_json() -> None:
    assert canonical_arguments(PRICE, {"sku": "a", "scale": 2}) == (
        b'{"count":1,"currency":"EUR","extra":null,"scale":2.0,"sku":"a"}')


def test_the_ttl_travels_with_the_key() -> None:
    key = cache_key_of("t1", PRICE, {"sku": "a"})
    assert isinstance(key, CacheKey)
    assert key.ttl_ms == 30_000
    assert key.tool == "price"
