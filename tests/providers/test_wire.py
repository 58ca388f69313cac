"""Neutral messages to each API's request shape, and the neutral helpers."""

from __future__ import annotations

import pytest

from async_toolformer.agents.providers import (
    AssistantMessage,
    InMemoryProvider,
    ProviderError,
    ProviderEvent,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolCallReady,
    ToolResultMessage,
    TurnFinished,
    TurnRequest,
    Usage,
    UserMessage,
    parse_arguments,
)
from async_toolformer.agents.providers.anthropic_wire import anthropic_messages, anthropic_tools
from async_toolformer.agents.providers.openai_wire import openai_messages
from async_toolformer.agents.tools.registry import ToolRegistry, tool

HISTORY = (
    SystemMessage("be brief"),
    UserMessage("find kafka"),
    AssistantMessage(
        "looking",
        (
            ToolCall("a", "search", {"query": "kafka"}),
            ToolCall("b", "search", None, '{"query": '),
        ),
    ),
    ToolResultMessage("a", "3 results"),
    ToolResultMessage("b", "arguments were not valid JSON", is_error=True),
)


def test_openai_messages() -> None:
    assert openai_messages(HISTORY) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "find kafka"},
        {
            "role": "assistant",
            "content": "looking",
            "tool_calls": [
                {
                    "id": "a",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"query":"kafka"}'},
                },
                {
                    "id": "b",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"query": '},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": "3 results"},
        {"role": "tool", "tool_call_id": "b", "content": "arguments were not valid JSON"},
    ]


def test_anthropic_messages_merge_tool_results_into_one_user_turn() -> None:
    system, messages = anthropic_messages((*HISTORY, UserMessage("and now?")))
    assert system == "be brief"
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"type": "text", "text": "looking"},
        {"type": "tool_use", "id": "a", "name": "search", "input": {"query": "kafka"}},
        {"type": "tool_use", "id": "b", "name": "search", "input": {}},
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "a", "content": "3 results", "is_error": False},
        {
            "type": "tool_result",
            "tool_use_id": "b",
            "content": "arguments were not valid JSON",
            "is_error": True,
        },
        {"type": "text", "text": "and now?"},
    ]


def test_registry_schemas_become_anthropic_tools() -> None:
    registry = ToolRegistry()

    @tool(registry=registry)
    async def web_search(query: str, limit: int = 5) -> list[str]:
        """Search the web."""
        return [query] * limit

    (converted,) = anthropic_tools(tuple(registry.openai_tools()))
    assert converted["name"] == "web_search"
    assert converted["description"] == "Search the web."
    assert converted["input_schema"]["properties"]["query"]["type"] == "string"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", ({}, None)), ('{"a": 1}', ({"a": 1}, None)), ("  ", ({}, None))],
)
def test_parse_arguments_accepts_objects(raw: str, expected: object) -> None:
    assert parse_arguments(raw) == expected


def test_turn_finished_becomes_the_history_message() -> None:
    ready = ToolCallReady("a", "f", None, "bad", "{x", 0)
    finished = TurnFinished("t", (ready,), Usage(1, 2), "tool_calls", 5.0)
    assert finished.assistant_message() == AssistantMessage("t", (ToolCall("a", "f", None, "{x"),))
    assert finished.usage.total_tokens == 3


async def collect(provider: InMemoryProvider, request: TurnRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream_turn(request)]


async def test_in_memory_provider_replays_by_turn() -> None:
    provider = InMemoryProvider(
        [AssistantMessage("", (ToolCall("a", "f", None, "{oops"),)), AssistantMessage("done")]
    )
    first = await collect(provider, TurnRequest((UserMessage("q"),)))
    ready = first[0]
    assert isinstance(ready, ToolCallReady)
    assert ready.error is not None
    finished = first[-1]
    assert isinstance(finished, TurnFinished)
    history = (UserMessage("q"), finished.assistant_message(), ToolResultMessage("a", "error"))
    second = await collect(provider, TurnRequest(history))
    assert second[0] == TextDelta("done")
    with pytest.raises(ProviderError, match="2 replies"):
        await collect(
            provider, TurnRequest((*history, AssistantMessage("x"), AssistantMessage("y")))
        )
