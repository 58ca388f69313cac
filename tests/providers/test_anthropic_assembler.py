"""The Messages API assembler on hand-made event sequences."""

from __future__ import annotations

from typing import Any

from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
)

from async_toolformer.agents.providers import (
    AnthropicStreamAssembler,
    ProviderEvent,
    TextDelta,
    ToolCallReady,
    TurnFinished,
    Usage,
    events_from_message,
)

_TYPES: dict[str, Any] = {
    "message_start": RawMessageStartEvent,
    "content_block_start": RawContentBlockStartEvent,
    "content_block_delta": RawContentBlockDeltaEvent,
    "content_block_stop": RawContentBlockStopEvent,
    "message_delta": RawMessageDeltaEvent,
    "message_stop": RawMessageStopEvent,
}


def event(data: dict[str, Any]) -> RawMessageStreamEvent:
    result: RawMessageStreamEvent = _TYPES[data["type"]].model_validate(data)
    return result


START = {
    "type": "message_start",
    "message": {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 1},
    },
}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def tool(index: int, call_id: str, name: str) -> dict[str, Any]:
    return block_start(index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})


def json_piece(index: int, piece: str) -> dict[str, Any]:
    return delta(index, {"type": "input_json_delta", "partial_json": piece})


def message_delta(reason: str, output_tokens: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }


def feed_all(sequence: list[dict[str, Any]]) -> list[list[ProviderEvent]]:
    assembler = AnthropicStreamAssembler()
    return [*(assembler.feed(event(data)) for data in sequence), assembler.finish(3.0)]


def test_each_call_is_ready_at_its_block_stop() -> None:
    sequence = [
        START,
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "On it."}),
        stop(0),
        tool(1, "toolu_a", "search"),
        json_piece(1, '{"query": '),
        json_piece(1, '"kafka"}'),
        stop(1),
        tool(2, "toolu_b", "fetch"),
        json_piece(2, "{}"),
        stop(2),
        message_delta("tool_use", 9),
        {"type": "message_stop"},
    ]
    events = feed_all(sequence)
    assert events[2] == [TextDelta("On it.")]
    ready_a = ToolCallReady("toolu_a", "search", {"query": "kafka"}, None, '{"query": "kafka"}', 0)
    ready_b = ToolCallReady("toolu_b", "fetch", {}, None, "{}", 1)
    assert events[7] == [ready_a]
    assert events[10] == [ready_b]
    assert events[-1] == [
        TurnFinished("On it.", (ready_a, ready_b), Usage(21, 9), "tool_calls", 3.0)
    ]


def test_malformed_input_json_is_an_error() -> None:
    events = feed_all([START, tool(0, "t", "f"), json_piece(0, '{"a": '), stop(0)])
    (ready,) = events[3]
    assert isinstance(ready, ToolCallReady)
    assert ready.arguments is None
    assert ready.error is not None
    assert "not valid JSON" in ready.error


def test_stop_reasons_use_openai_words() -> None:
    text = [START, block_start(0, {"type": "text", "text": "hi"}), stop(0)]
    for reason, expected in [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("pause_turn", "pause_turn"),
    ]:
        finished = feed_all([*text, message_delta(reason, 2)])[-1][-1]
        assert isinstance(finished, TurnFinished)
        assert (finished.text, finished.finish_reason) == ("hi", expected)


def test_block_never_stopped_is_flushed_at_finish() -> None:
    events = feed_all([START, tool(0, "t", "f"), json_piece(0, '{"x": 1}')])
    ready, finished = events[-1]
    assert isinstance(ready, ToolCallReady)
    assert ready.arguments == {"x": 1}
    assert isinstance(finished, TurnFinished)
    assert finished.finish_reason == "tool_calls"


def test_plain_message_gives_the_same_events() -> None:
    message = Message.model_validate(
        {
            "id": "m",
            "type": "message",
            "role": "assistant",
            "model": "x",
            "content": [
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "a", "name": "f", "input": {"x": 1}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 4, "output_tokens": 2},
        }
    )
    events = events_from_message(message, 1.0)
    ready = ToolCallReady("a", "f", {"x": 1}, None, '{"x":1}', 0)
    assert events == [
        TextDelta("ok"),
        ready,
        TurnFinished("ok", (ready,), Usage(4, 2), "tool_calls", 1.0),
    ]
