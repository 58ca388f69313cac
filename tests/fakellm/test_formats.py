"""The wire shapes, checked on the pure renderers (the SDK tests check them end to end)."""

from __future__ import annotations

import orjson

from async_toolformer.streams.devtools.fakellm import load_script, plan_reply, select_turn
from async_toolformer.streams.devtools.fakellm.anthropic_format import message_body, message_events
from async_toolformer.streams.devtools.fakellm.openai_format import (
    completion_body,
    completion_chunks,
)
from async_toolformer.streams.devtools.fakellm.plan import ReplyPlan

SCRIPT = load_script(
    {
        "defaults": {"chunk_chars": 5},
        "turns": [
            {
                "text": "Looking  it up.",
                "tool_calls": [
                    {"name": "search", "arguments": {"query": "kafka"}},
                    {"name": "fetch", "raw_arguments": '{"url": '},
                ],
            }
        ],
    }
)


def make_plan(prefix: str = "call_") -> ReplyPlan:
    selection = select_turn(SCRIPT, "m", [{"role": "user", "content": "hi there, model"}])
    return plan_reply(selection, SCRIPT.defaults, id_prefix=prefix, prompt_chars=15)


def test_plan_pieces_rebuild_text_and_arguments() -> None:
    plan = make_plan()
    assert plan.text == "Looking  it up."
    assert len(plan.text_pieces) == 3
    assert [call.arguments_json for call in plan.calls] == ['{"query":"kafka"}', '{"url": ']
    assert all(len(piece) <= 5 for call in plan.calls for piece in call.argument_pieces)
    assert plan.completion_tokens == plan.piece_count
    assert plan.prompt_tokens == 3


def test_openai_chunks_follow_the_real_sequence() -> None:
    plan = make_plan()
    chunks = completion_chunks(plan, reply_id="r", model="m", created=1, include_usage=True)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    headers = [
        part
        for chunk in chunks
        for choice in chunk["choices"]
        for part in choice["delta"].get("tool_calls", [])
        if "id" in part
    ]
    assert [(h["index"], h["type"], h["function"]["name"]) for h in headers] == [
        (0, "function", "search"),
        (1, "function", "fetch"),
    ]
    arguments = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for part in choice["delta"].get("tool_calls", []):
                arguments[part["index"]] += part["function"]["arguments"]
    assert arguments == {0: '{"query":"kafka"}', 1: '{"url": '}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == plan.prompt_tokens + plan.completion_tokens
    assert all(chunk["usage"] is None for chunk in chunks[:-1])


def test_openai_chunks_without_usage_have_no_usage_field() -> None:
    chunks = completion_chunks(make_plan(), reply_id="r", model="m", created=1, include_usage=False)
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_plain_body() -> None:
    body = completion_body(make_plan(), reply_id="r", model="m", created=1)
    message = body["choices"][0]["message"]
    assert message["content"] == "Looking  it up."
    assert [call["function"]["arguments"] for call in message["tool_calls"]] == [
        '{"query":"kafka"}',
        '{"url": ',
    ]


def test_anthropic_events_follow_the_real_sequence() -> None:
    events = message_events(make_plan("toolu_"), reply_id="r", model="m")
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [
        data["content_block"]["type"] for name, data in events if name == "content_block_start"
    ]
    assert starts == ["text", "tool_use", "tool_use"]
    assert names.count("content_block_stop") == 3
    partial = "".join(
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["index"] == 1
    )
    assert orjson.loads(partial) == {"query": "kafka"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert all(name == data["type"] for name, data in events)


def test_anthropic_plain_body_keeps_malformed_input_as_string() -> None:
    body = message_body(make_plan("toolu_"), reply_id="r", model="m")
    assert [block["type"] for block in body["content"]] == ["text", "tool_use", "tool_use"]
    assert body["content"][1]["input"] == {"query": "kafka"}
    assert body["content"][2]["input"] == '{"url": '
    assert body["stop_reason"] == "tool_use"
