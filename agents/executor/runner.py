"""Running one tool: the timeout, the retries with backoff, and turning what it did into an outcome.

Every path ends in a :class:`CallOutcome`; nothing a tool does (raise, hang,
return something JSON cannot hold or nested too deep to write) escapes as an
exception, so a call can never get stuck. Cancellation is the one exception
allowed through: the executor owns it and answers ``cancelled`` with the reason
it was given.

:func:`start_tool` runs the first attempt up to its first suspension, outside
any task: most tools (``echo``, a cache hit) finish right there, and a batch of
them then needs no task, no timer and no wake-up per call. :func:`run_tool` is
the same in one await.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Coroutine
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import Span
from pydantic_core import PydanticSerializationError, to_jsonable_python

from async_toolformer.schemas import CallStatus

from ..exceptions import ToolFailure
from ..tools import ToolSpec
from ..tracing import TRACING, attempt_ended, attempt_started
from ._eager import Resumed, run_until, within
from .limits import clip
from .outcome import CallOutcome

Rest = Coroutine[Any, Any, CallOutcome]

_MESSAGE_CHARS = 10_000  # of a tool's exception message, kept in its error result


def start_tool(spec: ToolSpec, arguments: dict[str, Any], *, timeout_s: float,
               threads: Executor | None = None) -> CallOutcome | Rest:
    """The outcome if the first attempt ends without waiting, else the rest to await.

    The deadline counts from now either way, and is armed only once the tool
    waits: code that has not yet suspended cannot be interrupted anyway. The
    loop's clock is read only then too (``get_running_loop`` is a ``getpid``
    system call each time), the time spent so far measured on ``monotonic``.
    """
    started = datetime.now(UTC)
    begun = time.monotonic()
    if not spec.is_async:
        return _attempts(spec, arguments, threads, timeout_s, started, attempt=1)
    span = attempt_started(spec.name, 1) if TRACING.on else None
    coro = spec.fn(**arguments)
    try:
        waiting_on = coro.send(None)
    except StopIteration as done:
        attempt_ended(span)
        return _ok(spec, done.value, 1, started)
    except Exception as exc:
        attempt_ended(span, exc)
        if not spec.retry.should_retry(exc, 1):
            return _failed(spec, exc, 1, started, timeout_s)
        return _attempts(spec, arguments, threads, timeout_s, started, attempt=2, backoff=True)
    deadline = asyncio.get_running_loop().time() + timeout_s - (time.monotonic() - begun)
    return _attempts(spec, arguments, threads, timeout_s, started, attempt=1,
                     first=(Resumed(coro, waiting_on), deadline), first_span=span)


async def run_tool(spec: ToolSpec, arguments: dict[str, Any], *, timeout_s: float,
                   threads: Executor | None = None) -> CallOutcome:
    """Run ``spec`` with validated ``arguments`` under its retry policy."""
    begun = start_tool(spec, arguments, timeout_s=timeout_s, threads=threads)
    return begun if isinstance(begun, CallOutcome) else await begun


async def _attempts(spec: ToolSpec, arguments: dict[str, Any], threads: Executor | None,
                    timeout_s: float, started: datetime, *, attempt: int,
                    first: tuple[Resumed, float] | None = None,
                    backoff: bool = False, first_span: Span | None = None) -> CallOutcome:
    """Attempts from ``attempt`` on; ``first`` is attempt 1 already under way.

    Traced, each attempt is a span of its own (``first_span``: attempt 1's).
    """
    loop = asyncio.get_running_loop()
    if backoff:
        await asyncio.sleep(spec.retry.delay_s(attempt - 1))
    while True:
        span = first_span if first is not None else (
            attempt_started(spec.name, attempt) if TRACING.on else None)
        try:
            if first is not None:
                resumed, deadline = first
                first = None
                value = await within(resumed, deadline)
            else:
                value = await _invoke(spec, arguments, threads, deadline=loop.time() + timeout_s)
        except BaseException as exc:
            attempt_ended(span, exc)
            if not isinstance(exc, Exception):
                raise
            if not spec.retry.should_retry(exc, attempt):
                return _failed(spec, exc, attempt, started, timeout_s)
            await asyncio.sleep(spec.retry.delay_s(attempt))
            attempt += 1
            continue
        attempt_ended(span)
        return _ok(spec, value, attempt, started)


async def _invoke(spec: ToolSpec, arguments: dict[str, Any], threads: Executor | None, *,
                  deadline: float) -> Any:
    if spec.is_async:
        return await run_until(spec.fn(**arguments), deadline)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout_at(deadline):
        return await loop.run_in_executor(threads, functools.partial(  # the call's log context
            contextvars.copy_context().run, spec.fn, **arguments))


def _failed(spec: ToolSpec, exc: Exception, attempts: int, started: datetime,
            timeout_s: float) -> CallOutcome:
    if isinstance(exc, TimeoutError):
        return CallOutcome.failed(
            CallStatus.TIMEOUT, "Timeout", f"{spec.name} did not finish within {timeout_s:g}s",
            retryable=True, attempts=attempts, started_at=started)
    retryable = exc.retryable if isinstance(exc, ToolFailure) else False
    return CallOutcome.failed(
        CallStatus.ERROR, type(exc).__name__, clip(str(exc) or repr(exc), _MESSAGE_CHARS),
        retryable=retryable, attempts=attempts, started_at=started)


def _ok(spec: ToolSpec, value: Any, attempts: int, started: datetime) -> CallOutcome:
    try:
        output = to_jsonable_python(value)
    except PydanticSerializationError as exc:
        return CallOutcome.unserialisable(spec.name, value, exc, attempts=attempts,
                                          started_at=started)
    except (ValueError, RecursionError):  # "Maximum serialization depth exceeded"
        return CallOutcome.too_deep(spec.name, attempts=attempts, started_at=started)
    return CallOutcome(status=CallStatus.OK, output=output, attempts=attempts, started_at=started)
