"""Bounded timeouts: what a call may ask for is clamped, what is not a number is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from async_toolformer.agents.exceptions import InvalidArgumentsError, ToolDefinitionError
from async_toolformer.agents.executor import CallExecutor, Sealed
from async_toolformer.agents.tools import ToolRegistry, load_tools, tool
from async_toolformer.agents.tools.builtin import MAX_SLEEP_MS
from async_toolformer.schemas import CallStatus, SchemaError, ToolCallRequested, decode_as
from async_toolformer.streams.worker.settings import Settings

registry = ToolRegistry()


@tool(registry=registry)
async def hang() -> None:
    """Never ends on its own."""
    await asyncio.Event().wait()


@tool(registry=registry, timeout_s=20, max_timeout_s=0.2)
async def capped() -> None:
    """Never ends, and its timeout may not exceed 0.2 s."""
    await asyncio.Event().wait()


def test_a_requested_timeout_is_clamped_to_the_tool_and_the_worker() -> None:
    plain, bounded = registry.get("hang"), registry.get("capped")
    assert plain.timeout_for(1e300, default_s=30, max_s=300) == 300
    assert plain.timeout_for(5, default_s=30, max_s=300) == 5
    assert plain.timeout_for(None, default_s=30, max_s=300) == 30
    assert plain.timeout_for(None, default_s=600, max_s=300) == 300
    assert bounded.timeout_for(1e300, default_s=30, max_s=300) == 0.2
    assert bounded.timeout_for(None, default_s=30, max_s=300) == 0.2  # its own 20 s too
    assert bounded.timeout_for(0.1, default_s=30, max_s=0.05) == 0.05


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0, -1])
def test_a_tool_bound_must_be_a_finite_positive_number(value: float) -> None:
    with pytest.raises(ToolDefinitionError, match="finite positive"):
        tool(registry=ToolRegistry(), max_timeout_s=value)(hang)
    with pytest.raises(ToolDefinitionError, match="finite positive"):
        tool(registry=ToolRegistry(), timeout_s=value)(hang)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", 0, -3])
def test_a_request_refuses_a_timeout_that_is_not_a_finite_positive_number(value: object) -> None:
    raw = (b'{"type":"tool_call_requested","call_id":"c","session_id":"s","tool":"hang",'
           b'"timeout_s":' + (f'"{value}"' if isinstance(value, str) else str(value)).encode()
           + b"}")
    with pytest.raises(SchemaError):
        decode_as(ToolCallRequested, raw)


def test_the_worker_bound_is_a_setting() -> None:
    assert Settings().max_timeout_s == 300
    assert Settings.model_validate({"max_timeout_s": 5}).max_timeout_s == 5
    with pytest.raises(ValueError, match="finite"):
        Settings.model_validate({"max_timeout_s": "inf"})


def test_sleep_is_bounded() -> None:
    sleep = load_tools([]).get("sleep")
    assert sleep.validate({"ms": MAX_SLEEP_MS}) == {"ms": MAX_SLEEP_MS}
    with pytest.raises(InvalidArgumentsError, match="less than or equal"):
        sleep.validate({"ms": MAX_SLEEP_MS + 1})
    with pytest.raises(InvalidArgumentsError):
        sleep.validate({"ms": -1})


@pytest.mark.parametrize(("name", "max_timeout_s"), [("hang", 0.2), ("capped", 300.0)])
async def test_a_call_asking_for_forever_times_out_at_the_bound(name: str,
                                                                 max_timeout_s: float) -> None:
    ended: list[Sealed] = []

    async def sink(sealed: Sealed) -> None:
        ended.append(sealed)

    executor = CallExecutor(worker_id="w", sink=sink, max_timeout_s=max_timeout_s)
    request = ToolCallRequested(call_id="c", session_id="s", tool=name, timeout_s=1e300)
    spec = registry.get(name)
    await executor.reserve()
    task = executor.submit(request, spec, {}, received_at=datetime.now(UTC))
    sealed = await asyncio.wait_for(task, 10)  # unbounded, it would never end
    assert sealed.event.status is CallStatus.TIMEOUT
    assert sealed.event.error is not None
    assert "within 0.2s" in sealed.event.error.message
    await executor.close()
