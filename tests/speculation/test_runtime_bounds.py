"""The bounds around speculation: its budget (pure), its rate-limit reserve (real Redis),
its settings, and the outbox tap that must never stop a session."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from async_toolformer.agents.sessions.ports import MemoryOutbox
from async_toolformer.agents.speculation import Prediction
from async_toolformer.agents.speculation.budget import (
    SpeculationBudget,
    SpeculationLimits,
    screen,
)
from async_toolformer.agents.tools import ToolRegistry, ToolSpec, tool
from async_toolformer.streams.redis.ratelimit import CallQuota, RateLimiter, parse_limits
from async_toolformer.streams.worker.settings import Settings
from async_toolformer.streams.worker.speculation_limits import SpareCapacity

TOOLS = ToolRegistry()


@tool(registry=TOOLS, read_only=True, idempotent=True, cache_ttl_s=10)
def search(q: str) -> list[str]:
    return [q]


@tool(registry=TOOLS, read_only=True, idempotent=False, cache_ttl_s=None)
def clock() -> float:
    return 0.0


def _spec_of(name: str) -> ToolSpec | None:
    return TOOLS.get(name) if name in TOOLS else None


def test_screen_keeps_the_most_confident_well_formed_predictions() -> None:
    limits = SpeculationLimits(max_per_result=2)
    found, refused = screen([Prediction("search", {"q": "a"}, 0.4),
                             Prediction("search", {"q": "b"}, 0.9),
                             Prediction("search", {"q": "b"}, 0.8),  # the same call again
                             Prediction("search", {"q": "c"}, 0.6),
                             Prediction("clock", {}, 1.0)], "t1", _spec_of, limits)

    assert [(c.arguments["q"], c.confidence) for c in found] == [("b", 0.9), ("c", 0.6)]
    assert refused == {"duplicate": 1, "not_read_only": 1, "over_budget": 1}
    assert found[0].key.tenant == "t1"  # a tenant's runs land in its own cache entries


def test_screen_looks_at_a_bounded_number_of_predictions() -> None:
    limits = SpeculationLimits(max_looked_at=10)
    huge = [Prediction("search", {"q": str(n)}, 0.5) for n in range(1_000_000)]
    found, refused = screen(huge, "t1", _spec_of, limits)

    assert len(found) == limits.max_per_result
    assert refused["too_many"] == 1_000_000 - 10


def test_budget_shares_the_worker_the_tool_and_the_session() -> None:
    budget = SpeculationBudget(SpeculationLimits(share=0.25, max_in_flight=64,
                                                 max_per_session=2), worker_max_in_flight=12)
    assert budget.limits.worker_cap(12) == 3
    assert budget.refusal("search", "s1", tool_cap=4) is None
    budget.start("search", "s1")
    assert budget.refusal("search", "s2", tool_cap=4) == "tool_share"  # a quarter of 4
    assert budget.refusal("other", "s1", tool_cap=None) is None
    budget.start("other", "s1")
    assert budget.refusal("other", "s1", tool_cap=None) == "session_share"
    budget.start("other", "s2")
    assert budget.refusal("third", "s3", tool_cap=None) == "worker_share"
    for tool_name, session in (("search", "s1"), ("other", "s1"), ("other", "s2")):
        budget.end(tool_name, session)
    assert (budget.running, budget.by_tool, budget.by_session) == (0, {}, {})


@pytest.mark.parametrize("options", [{"share": 0}, {"share": 1.5}, {"share": float("nan")},
                                     {"rate_reserve": 1.0}, {"max_in_flight": 0},
                                     {"max_argument_bytes": -1}])
def test_limits_refuse_what_makes_no_sense(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SpeculationLimits(**options)


@pytest.mark.parametrize("variable", [("TOOLFORMER_SPECULATION_SHARE", "0"),
                                      ("TOOLFORMER_SPECULATION_SHARE", "inf"),
                                      ("TOOLFORMER_SPECULATION_MAX_IN_FLIGHT", "1000000"),
                                      ("TOOLFORMER_SPECULATION_RATE_RESERVE", "1"),
                                      ("TOOLFORMER_SPECULATION_PRECISION_TARGET", "-1")])
def test_settings_refuse_out_of_range_values(variable: tuple[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(*variable)
    with pytest.raises(ValidationError):
        Settings()


def test_speculation_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLFORMER_SPECULATION", raising=False)
    assert Settings().speculation is False


@pytest.mark.connected
async def test_a_speculative_call_takes_only_spare_rate_capacity(redis_url: str) -> None:
    namespace = f"spec-limits-{uuid.uuid4().hex[:8]}"
    config = parse_limits(f"""
        namespace = "{namespace}"
        [[limits]]
        name = "search-rate"
        scope = "tool"
        match = "search"
        kind = "token_bucket"
        rate = 1
        per = "hour"
        burst = 10
    """)
    redis = Redis.from_url(redis_url)
    limiter = RateLimiter(config, redis)
    spare = SpareCapacity(limiter, redis, reserve=0.5)
    quota = CallQuota(tool="search")
    try:
        first = await spare.admit(quota)  # 10 free: one speculative call leaves 9
        assert first is not None
        first.release()
        real = await limiter.admit_many([quota] * 4)  # real calls: 5 left
        assert all(permit is not None for permit in real)
        assert await spare.admit(quota) is None  # after it only 4 would be left, under 5
        assert await spare.admit(CallQuota(tool="unlimited")) is not None  # no limit applies
        async with asyncio.timeout(5):  # the refusal took nothing: real calls get all 5
            permits = await limiter.admit_many([quota] * 5)
        assert all(permit is not None for permit in permits)
    finally:
        await limiter.aclose()
        keys = [k async for k in redis.scan_iter(match=f"*{namespace}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_the_outbox_tap_forwards_every_record_and_survives_garbage() -> None:
    from async_toolformer.streams.worker.speculation_tap import SpeculationTap

    class Exploding:
        """A runtime whose every method raises: the tap must not pass that on."""

        journal: Any = None

        def __getattr__(self, name: str) -> Any:
            def boom(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError(f"{name} failed")
            return boom

    sink = MemoryOutbox()
    tap = SpeculationTap(sink, Exploding(), calls_topic="calls",  # type: ignore[arg-type]
                         journal_topic="journal")
    call = (b'{"schema_version":1,"type":"tool_call_requested","call_id":"c","session_id":"s",'
            b'"tool":"search","arguments":{"q":"x"}}')
    records = [("calls", b"s", b"\xff not json"), ("calls", b"s", call),
               ("journal", b"s", b'{"schema_version":1,"type":"tool_result_received"'),
               ("journal", b"s", b'{"schema_version":1,"type":"session_completed",' + b"x" * 10),
               ("other", None, b"anything")]
    for topic, key, value in records:
        await tap.send(topic, key, value)

    assert sink.records == records
