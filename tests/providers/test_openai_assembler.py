"""The Chat Completions assembler on hand-made chunk sequences."""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from async_toolformer.agents.providers import (
    OpenAIStreamAssembler,
    ProviderEvent,
    TextDelta,
    ToolCallReady,
    TurnFinished,
    Usage,
    events_from_completion,
)


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
) -> ChatCompletionChunk:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": choices,
            "usage": usage,
        }
    )


def header(index: int, call_id: str, name: str) -> dict[str, Any]:
    return {
        "tool_calls": [
            {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
        ]
    }


def args(index: int, piece: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}


def feed_all(chunks: list[ChatCompletionChunk]) -> list[list[ProviderEvent]]:
    """Events per chunk fed, then the events of finish() as the last entry."""
    assembler = OpenAIStreamAssembler()
    per_chunk = [assembler.feed(c) for c in chunks]
    return [*per_chunk, assembler.finish(12.5)]


def test_first_call_is_ready_when_the_second_starts() -> None:
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Checking "}),
        chunk({"content": "both."}),
        chunk(header(0, "call_a", "search")),
        chunk(args(0, '{"query":')),
        chunk(args(0, ' "kafka"}')),
        chunk(header(1, "call_b", "fetch")),
        chunk(args(1, '{"url": "http://x"}')),
        chunk({}, finish="tool_calls"),
        chunk(usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}),
    ]
    events = feed_all(chunks)
    assert events[1] == [TextDelta("Checking ")]
    ready_a = ToolCallReady("call_a", "search", {"query": "kafka"}, None, '{"query": "kafka"}', 0)
    assert events[6] == [ready_a]  # at the chunk that starts index 1, not later
    ready_b = ToolCallReady("call_b", "fetch", {"url": "http://x"}, None, '{"url": "http://x"}', 1)
    assert events[8] == [ready_b]  # at finish_reason
    finished = events[-1]
    assert finished == [
        TurnFinished("Checking both.", (ready_a, ready_b), Usage(11, 7), "tool_calls", 12.5)
    ]


def test_malformed_arguments_are_an_error_not_an_exception() -> None:
    events = feed_all(
        [chunk(header(0, "c0", "search")), chunk(args(0, '{"query": ')), chunk({}, "tool_calls")]
    )
    (ready,) = events[2]
    assert isinstance(ready, ToolCallReady)
    assert ready.arguments is None
    assert ready.error is not None
    assert "not valid JSON" in ready.error
    assert ready.raw_arguments == '{"query": '


def test_non_object_arguments_are_an_error() -> None:
    events = feed_all([chunk(header(0, "c0", "f")), chunk(args(0, "[1, 2]"))])
    ready = events[-1][0]
    assert isinstance(ready, ToolCallReady)
    assert ready.error == "the arguments must be a JSON object, received list"


def test_empty_arguments_mean_no_arguments() -> None:
    ready = feed_all([chunk(header(0, "c0", "now"))])[-1][0]
    assert ready == ToolCallReady("c0", "now", {}, None, "", 0)


def test_several_whole_calls_in_one_chunk() -> None:
    both = {
        "tool_calls": [
            {
                "index": 0,
                "id": "a",
                "type": "function",
                "function": {"name": "f", "arguments": "{}"},
            },
            {
                "index": 1,
                "id": "b",
                "type": "function",
                "function": {"name": "g", "arguments": "{}"},
            },
        ]
    }
    events = feed_all([chunk(both), chunk({}, "tool_calls")])
    assert [e.call_id for e in events[0] if isinstance(e, ToolCallReady)] == ["a"]
    assert [e.call_id for e in events[1] if isinstance(e, ToolCallReady)] == ["b"]


def test_stream_cut_before_finish_reason_flushes_calls_and_infers_reason() -> None:
    events = feed_all([chunk(header(0, "a", "f")), chunk(args(0, "{}"))])
    ready, finished = events[-1]
    assert isinstance(ready, ToolCallReady)
    assert isinstance(finished, TurnFinished)
    assert finished.finish_reason == "tool_calls"
    assert finished.usage == Usage()


def test_text_only_turn() -> None:
    events = feed_all([chunk({"content": "hi"}), chunk({}, "stop")])
    assert events[-1] == [TurnFinished("hi", (), Usage(), "stop", 12.5)]


def test_plain_completion_gives_the_same_events() -> None:
    completion = ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": "ok",
                        "tool_calls": [
                            {
                                "id": "a",
                                "type": "function",
                                "function": {"name": "f", "arguments": '{"x": 1}'},
                            },
                            {
                                "id": "b",
                                "type": "function",
                                "function": {"name": "g", "arguments": "{bad"},
                            },
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    events = events_from_completion(completion, 1.0)
    assert events[0] == TextDelta("ok")
    assert isinstance(events[1], ToolCallReady)
    assert events[1].arguments == {"x": 1}
    assert isinstance(events[2], ToolCallReady)
    assert events[2].error is not None
    finished = events[3]
    assert isinstance(finished, TurnFinished)
    assert finished.tool_calls == (events[1], events[2])
    assert finished.usage == Usage(3, 2)
