"""JSON logs: one object a line, carrying the call, session, tenant and worker they are about."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from async_toolformer.agents.log_context import (
    bind_call,
    bind_worker,
    log_fields,
    session_context,
    unbind,
)
from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.worker.logs import JsonLogFormatter, log_formatter, log_handler

from ..pipeline.conftest import TEST_TOOLS, PipelineFactory

CONSOLE_TOOLS = "tests.console.tools_for_console"


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("some.logger", logging.WARNING, __file__, 1, message, args,
                             exc_info)


def test_a_line_is_json_with_the_bound_call_and_worker() -> None:
    worker = bind_worker("w-9")
    token = bind_call("c-1", "s-1", "acme")
    try:
        line = JsonLogFormatter().format(_record("took %d ms", 12))
    finally:
        unbind(token)
    assert log_fields() == {"worker_id": "w-9"}  # the call is unbound again
    parsed = orjson.loads(line)
    assert parsed["message"] == "took 12 ms"
    assert (parsed["level"], parsed["logger"]) == ("WARNING", "some.logger")
    assert parsed["timestamp"].endswith("Z")
    assert (parsed["call_id"], parsed["session_id"], parsed["tenant"], parsed["worker_id"]) == (
        "c-1", "s-1", "acme", "w-9")
    assert "trace_id" not in parsed  # no OpenTelemetry span here
    worker.var.reset(worker)


def _fail() -> None:
    raise ValueError("boom\nsecond line")


def test_a_line_without_context_leaves_the_fields_out_and_keeps_the_exception() -> None:
    try:
        _fail()
    except ValueError as exc:
        line = JsonLogFormatter().format(_record("failed", exc=exc))
    assert "\n" not in line
    parsed = orjson.loads(line)
    assert "call_id" not in parsed
    assert "ValueError: boom" in parsed["exception"]


async def test_a_task_started_in_a_sessions_context_logs_its_session_only() -> None:
    async def line() -> str:
        return JsonLogFormatter().format(_record("turn"))

    task = asyncio.create_task(line(), context=session_context("s-7", "acme"))
    parsed = orjson.loads(await task)
    assert (parsed["session_id"], parsed["tenant"]) == ("s-7", "acme")
    assert "call_id" not in parsed
    assert "session_id" not in log_fields()  # the starter's own context is untouched


def test_the_format_is_text_or_json_and_nothing_else() -> None:
    assert isinstance(log_formatter(" JSON "), JsonLogFormatter)
    assert not isinstance(log_formatter("text"), JsonLogFormatter)
    assert isinstance(log_handler("json").formatter, JsonLogFormatter)
    with pytest.raises(ValueError, match="TOOLFORMER_LOG_FORMAT must be one of text, json"):
        log_formatter("xml")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the test tools log, as the JSON handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter("json"))
    tools_logger = logging.getLogger("tests.console.tools")
    tools_logger.addHandler(handler)
    tools_logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        tools_logger.removeHandler(handler)
        tools_logger.setLevel(logging.NOTSET)


async def test_a_workers_call_logs_carry_its_call_session_tenant_and_worker(
        pipeline_factory: PipelineFactory, json_lines: io.StringIO) -> None:
    pipeline = await pipeline_factory(tools=[TEST_TOOLS, CONSOLE_TOOLS])
    calls = [
        ToolCallRequested(call_id="log-a", session_id="log-s1", tool="chatty",
                          arguments={"ms": 50}, tenant="acme"),
        ToolCallRequested(call_id="log-b", session_id="log-s2", tool="chatty",
                          arguments={"ms": 80}),
        ToolCallRequested(call_id="log-c", session_id="log-s1", tool="chatty_sync",
                          arguments={"n": 1}, tenant="acme"),
    ]
    results = await pipeline.client.run(calls, timeout_s=30)
    assert all(r.status is CallStatus.OK for r in results)

    lines = [orjson.loads(line) for line in json_lines.getvalue().splitlines()]
    seen = {(line["call_id"], line["message"]) for line in lines}
    assert seen == {("log-a", "chatty starts"), ("log-a", "chatty ends"),
                    ("log-b", "chatty starts"), ("log-b", "chatty ends"),
                    ("log-c", "chatty_sync runs")}
    sessions = {"log-a": "log-s1", "log-b": "log-s2", "log-c": "log-s1"}
    tenants = {"log-a": "acme", "log-b": "default", "log-c": "acme"}
    for line in lines:
        assert line["session_id"] == sessions[line["call_id"]], line
        assert line["tenant"] == tenants[line["call_id"]], line
        assert line["worker_id"] == pipeline.settings.worker_id, line
