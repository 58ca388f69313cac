"""Running one tool: the timeout, the retries with backoff, and turning what it did into an outcome.

Every path ends in a :class:`CallOutcome`; nothing a tool does (raise, hang,
return something JSON cannot hold) escapes as an exception, so a call can never
get stuck. Cancellation is the one exception allowed through: the executor owns
it and answers ``cancelled`` with the reason it was given.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from async_toolformer.schemas import CallStatus

from ..exceptions import ToolFailure
from ..tools import ToolSpec
from ._eager import run_until
from .outcome import CallOutcome


async def run_tool(
    spec: ToolSpec,
    arguments: dict[str, Any],
    *,
    timeout_s: float,
    threads: Executor | None = None,
) -> CallOutcome:
    """Run ``spec`` with validated ``arguments`` under its retry policy."""
    started = datetime.now(UTC)
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        attempt += 1
        try:
            value = await _invoke(spec, arguments, threads, deadline=loop.time() + timeout_s)
        except TimeoutError as exc:
            if spec.retry.should_retry(exc, attempt):
                await asyncio.sleep(spec.retry.delay_s(attempt))
                continue
            return CallOutcome.failed(
                CallStatus.TIMEOUT, "Timeout", f"{spec.name} did not finish within {timeout_s:g}s",
                retryable=True, attempts=attempt, started_at=started)
        except Exception as exc:
            if spec.retry.should_retry(exc, attempt):
                await asyncio.sleep(spec.retry.delay_s(attempt))
                continue
            retryable = exc.retryable if isinstance(exc, ToolFailure) else False
            return CallOutcome.failed(
                CallStatus.ERROR, type(exc).__name__, str(exc) or repr(exc),
                retryable=retryable, attempts=attempt, started_at=started)
        return _ok(spec, value, attempt, started)


async def _invoke(spec: ToolSpec, arguments: dict[str, Any], threads: Executor | None, *,
                  deadline: float) -> Any:
    if spec.is_async:
        return await run_until(spec.fn(**arguments), deadline)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout_at(deadline):
        return await loop.run_in_executor(threads, functools.partial(spec.fn, **arguments))


def _ok(spec: ToolSpec, value: Any, attempts: int, started: datetime) -> CallOutcome:
    try:
        output = to_jsonable_python(value)
    except PydanticSerializationError as exc:
        return CallOutcome.failed(
            CallStatus.ERROR, "UnserialisableOutput",
            f"{spec.name} returned {type(value).__name__}, which JSON cannot hold: {exc}",
            attempts=attempts, started_at=started)
    return CallOutcome(status=CallStatus.OK, output=output, attempts=attempts, started_at=started)
