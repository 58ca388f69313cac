"""Which calls the result cache may answer, and the key of each. Pure: no I/O.

A cached result stands in for a run, so two calls share one only if the tool
would have been asked the same thing: the same tenant, the same tool and the
same *validated* arguments. The arguments are validated with the tool's own
argument model first (defaults filled in, ``1`` and ``1.0`` both become
``1.0`` where the model says ``float`` and ``1`` where it says ``int``), then
written as canonical JSON: keys sorted, no spaces, numbers in their shortest
form. Numbers the model leaves untyped (``Any``, ``dict[str, Any]``) keep their
form: ``1`` and ``1.0`` stay apart there, as do ``0.0`` and ``-0.0``, because a
tool may tell them apart. A set's order is its iteration order, which can differ
between processes: such calls may miss, never share wrongly.

Arguments that cannot be written exactly (NaN or an infinity, a type with no
JSON form), or that are too deep, too many or too large for a key, are not
cached: the call simply runs (:class:`Uncacheable` says why).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic_core import PydanticSerializationError, to_jsonable_python

from async_toolformer.schemas import ToolCallRequested

from ..exceptions import InvalidArgumentsError
from ..tools import ToolSpec

__all__ = ["KEY_VERSION", "MAX_KEY_BYTES", "MAX_KEY_DEPTH", "MAX_KEY_VALUES", "CacheKey",
           "Uncacheable", "cache_key_of", "canonical_arguments", "wants_cache"]

KEY_VERSION = b"toolformer-cache-v1"  # a new canonical form must not meet the old keys
MAX_KEY_BYTES = 65_536  # canonical arguments past this run uncached
MAX_KEY_DEPTH = 32
MAX_KEY_VALUES = 10_000


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Where one call's result is cached: ``digest`` covers tenant, tool and arguments."""

    digest: str  # sha256, 64 hex digits
    tenant: str
    tool: str
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class Uncacheable:
    """Why a call of a caching tool runs uncached (a metric's label)."""

    reason: str  # invalid_arguments, not_finite, unsupported, too_deep, too_many, too_large


def wants_cache(request: ToolCallRequested, spec: ToolSpec) -> bool:
    """Whether the cache may answer ``request``: its tool declares a TTL, it did not bypass."""
    return spec.cache_ttl_s is not None and request.cache == "use"


def cache_key_of(tenant: str, spec: ToolSpec, arguments: dict[str, Any]) -> CacheKey | Uncacheable:
    """The key of a call of ``spec`` by ``tenant`` with ``arguments`` (as sent, or validated)."""
    if spec.cache_ttl_s is None:
        return Uncacheable("not_cached_tool")
    canonical = canonical_arguments(spec, arguments)
    if isinstance(canonical, Uncacheable):
        return canonical
    digest = hashlib.sha256(KEY_VERSION)
    digest.update(orjson.dumps([tenant, spec.name]))  # a closed array: no two splits collide
    digest.update(canonical)
    return CacheKey(digest.hexdigest(), tenant, spec.name, max(1, round(spec.cache_ttl_s * 1000)))


def canonical_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> bytes | Uncacheable:
    """The validated ``arguments`` as canonical JSON bytes, or why they have none."""
    try:
        validated = spec.validate(arguments)
    except InvalidArgumentsError:
        return Uncacheable("invalid_arguments")
    try:
        plain = to_jsonable_python(validated, inf_nan_mode="constants")
    except (PydanticSerializationError, ValueError, TypeError, RecursionError):
        return Uncacheable("unsupported")
    problem = _shape_problem(plain)
    if problem is not None:
        return Uncacheable(problem)
    try:
        canonical = orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # an int past 64 bits, a lone surrogate
        try:
            canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"),
                                   allow_nan=False).encode("utf-8", "surrogatepass")
        except (ValueError, TypeError):
            return Uncacheable("unsupported")
    if len(canonical) > MAX_KEY_BYTES:
        return Uncacheable("too_large")
    return canonical


def _shape_problem(value: Any) -> str | None:
    """Why ``value`` has no exact canonical form within the bounds, or None."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_KEY_VALUES:
            return "too_many"
        if isinstance(item, dict):
            if depth >= MAX_KEY_DEPTH:
                return "too_deep"
            for key, inner in item.items():
                if not isinstance(key, str):
                    return "unsupported"
                stack.append((inner, depth + 1))
        elif isinstance(item, list | tuple):
            if depth >= MAX_KEY_DEPTH:
                return "too_deep"
            stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "not_finite"
        elif item is not None and not isinstance(item, str | int):  # bool is an int
            return "unsupported"
    return None
