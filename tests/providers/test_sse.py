"""Reading a streamed Chat Completion's events without the SDK's typed chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from async_toolformer.agents.providers import ProviderError
from async_toolformer.agents.providers.events import ToolCallReady, TurnFinished
from async_toolformer.agents.providers.openai_assembler import OpenAIStreamAssembler
from async_toolformer.agents.providers.sse import MAX_EVENT_CHARS, sse_payloads


async def _lines(lines: Iterable[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _read(lines: Iterable[str]) -> list[dict[str, Any]]:
    return [payload async for payload in sse_payloads(_lines(lines))]


async def test_data_events_up_to_done_with_comments_and_multiline_data() -> None:
    got = await _read([": keep-alive", "", 'data: {"a": 1}', "", "event: message",
                       'data: {"b":', "data: 2}", "", "data: [DONE]", "", 'data: {"c": 3}', ""])
    assert got == [{"a": 1}, {"b": 2}]


async def test_a_last_event_without_its_blank_line_counts() -> None:
    assert await _read(['data: {"a": 1}']) == [{"a": 1}]


@pytest.mark.parametrize("line", ["data: not json", "data: [1, 2]", 'data: "text"', "data: 3"])
async def test_data_that_is_not_a_json_object_is_a_provider_error(line: str) -> None:
    with pytest.raises(ProviderError, match="stream event"):
        await _read([line, ""])


async def test_an_error_event_is_a_provider_error_with_its_message() -> None:
    with pytest.raises(ProviderError, match="overloaded"):
        await _read(['data: {"error": {"message": "overloaded", "type": "server_error"}}', ""])
    with pytest.raises(ProviderError, match="no message"):
        await _read(["event: error", 'data: {"detail": 1}', ""])


async def test_an_endless_event_is_cut_off() -> None:
    endless = ("data: " + "x" * 1_000_000 for _ in range(MAX_EVENT_CHARS // 1_000_000 + 2))
    with pytest.raises(ProviderError, match="over"):
        await _read(endless)


def test_the_assembler_takes_json_chunks_and_ignores_fields_of_the_wrong_type() -> None:
    assembler = OpenAIStreamAssembler()
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_a", "function": {"name": "echo", "arguments": '{"t'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '": 1}'}}, {"index": "1"}, "junk",
            {"index": True}]}}]},
        {"choices": "not a list", "usage": {"prompt_tokens": -5, "completion_tokens": 7}},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    events = [event for chunk in chunks for event in assembler.feed(chunk)]
    events += assembler.finish(12.0)
    ready = [e for e in events if isinstance(e, ToolCallReady)]
    assert [(r.call_id, r.name, r.arguments) for r in ready] == [("call_a", "echo", {"t": 1})]
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert (finished.usage.prompt_tokens, finished.usage.completion_tokens) == (0, 7)
