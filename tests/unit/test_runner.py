"""run_tool(): timeouts, retries with backoff, errors and odd outputs become outcomes."""

from __future__ import annotations

import asyncio
import random
import time

from async_toolformer.agents.exceptions import ToolFailure
from async_toolformer.agents.executor import CallOutcome, run_tool, start_tool
from async_toolformer.agents.tools import RetryPolicy, ToolRegistry, tool
from async_toolformer.schemas import CallStatus

registry = ToolRegistry()
seen: list[int] = []


@tool(registry=registry, retry=RetryPolicy(attempts=3, initial_delay_s=0, jitter=0,
                                           retry_on=(ConnectionError,)))
async def shaky(fail_times: int) -> str:
    """Raise ConnectionError the first times."""
    seen.append(fail_times)
    if len(seen) <= fail_times:
        raise ConnectionError("reset")
    return "ok"


@tool(registry=registry, retry=RetryPolicy(attempts=2, initial_delay_s=0, retry_on_timeout=True))
async def slow() -> None:
    """Sleep past any small timeout."""
    await asyncio.sleep(10)


@tool(registry=registry)
async def busy_then_waits(busy_s: float) -> None:
    """Keeps the loop busy before it first waits, then waits long."""
    time.sleep(busy_s)  # noqa: ASYNC251 - blocking the loop is the point
    await asyncio.sleep(10)


@tool(registry=registry)
def sync_square(x: int) -> int:
    """A sync tool."""
    return x * x


@tool(registry=registry)
async def raises_value_error() -> None:
    """Not retryable."""
    raise ValueError("bad")


@tool(registry=registry)
async def returns_set() -> object:
    """A set of objects JSON cannot hold."""
    return {object()}


async def test_retries_until_success() -> None:
    seen.clear()
    outcome = await run_tool(registry.get("shaky"), {"fail_times": 2}, timeout_s=1)
    assert outcome.status is CallStatus.OK
    assert outcome.attempts == 3


async def test_timeout_retried_when_the_policy_says_so() -> None:
    outcome = await run_tool(registry.get("slow"), {}, timeout_s=0.01)
    assert outcome.status is CallStatus.TIMEOUT
    assert outcome.attempts == 2


async def test_sync_tool_runs_off_the_loop() -> None:
    outcome = await run_tool(registry.get("sync_square"), {"x": 7}, timeout_s=1)
    assert outcome.output == 49


async def test_errors_and_unserialisable_outputs() -> None:
    failed = await run_tool(registry.get("raises_value_error"), {}, timeout_s=1)
    assert failed.status is CallStatus.ERROR
    assert failed.error is not None
    assert (failed.error.type, failed.attempts) == ("ValueError", 1)
    odd = await run_tool(registry.get("returns_set"), {}, timeout_s=1)
    assert odd.error is not None
    assert odd.error.type == "UnserialisableOutput"


def test_backoff_grows_and_is_capped_with_jitter() -> None:
    policy = RetryPolicy(attempts=10, initial_delay_s=0.1, multiplier=2, max_delay_s=1,
                         jitter=0.2)
    rng = random.Random(1)
    delays = [policy.delay_s(n, rng) for n in range(1, 8)]
    assert 0.08 <= delays[0] <= 0.12
    assert all(0.8 <= d <= 1.2 for d in delays[4:])
    assert not policy.should_retry(ToolFailure("x", retryable=True), attempt=10)
    assert policy.should_retry(ToolFailure("x", retryable=True), attempt=1)
    assert not policy.should_retry(ToolFailure("x"), attempt=1)


async def test_start_tool_ends_a_call_that_never_waits_at_once() -> None:
    seen.clear()
    begun = start_tool(registry.get("shaky"), {"fail_times": 0}, timeout_s=1)
    assert isinstance(begun, CallOutcome)
    assert (begun.status, begun.output, begun.attempts) == (CallStatus.OK, "ok", 1)


async def test_start_tool_leaves_waits_and_retries_to_be_awaited() -> None:
    for spec, arguments, status, attempts in [
        ("shaky", {"fail_times": 1}, CallStatus.OK, 2),  # failed at once, retried
        ("slow", {}, CallStatus.TIMEOUT, 2),  # waits past its deadline, twice
        ("sync_square", {"x": 3}, CallStatus.OK, 1),  # a thread is a wait too
    ]:
        seen.clear()
        begun = start_tool(registry.get(spec), arguments, timeout_s=0.05)
        assert not isinstance(begun, CallOutcome)
        outcome = await begun
        assert (outcome.status, outcome.attempts) == (status, attempts)


async def test_start_tool_answers_a_failure_that_is_not_retried_at_once() -> None:
    begun = start_tool(registry.get("raises_value_error"), {}, timeout_s=1)
    assert isinstance(begun, CallOutcome)
    assert begun.status is CallStatus.ERROR
    assert begun.error is not None
    assert begun.error.type == "ValueError"


async def test_the_deadline_counts_from_the_start_not_from_the_first_wait() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = await run_tool(registry.get("busy_then_waits"), {"busy_s": 0.3}, timeout_s=0.4)
    assert outcome.status is CallStatus.TIMEOUT
    # Counted from the first wait it would end at 0.7 s; from the start, at 0.4 (+ a tick).
    assert loop.time() - started < 0.6
