"""The server over real HTTP, seen by a plain HTTP client (the SDK tests are in tests/providers)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from async_toolformer.streams.devtools.fakellm import FakeLLMServer, SentChunk

SCRIPT: dict[str, Any] = {
    "conversations": {
        "tools": {
            "turns": [
                {
                    "text": "one two",
                    "tool_calls": [{"name": "search", "arguments": {"q": "x"}}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 5},
                },
                {"text": "done"},
            ]
        },
        "flaky": {
            "turns": [{"text": "ok", "error": {"status": 429, "retry_after": 0.05, "times": 2}}]
        },
    }
}


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def chat(model: str, *, stream: bool = False, messages: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": messages or [{"role": "user", "content": "hello"}],
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def test_plain_openai_answer_and_request_log(http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(SCRIPT) as server:
        async with http.post(f"{server.base_url}/chat/completions", json=chat("tools")) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["choices"][0]["finish_reason"] == "tool_calls"
        assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
        logged = server.requests[0]
        assert (logged.api, logged.conversation, logged.turn_index, logged.status) == (
            "openai",
            "tools",
            0,
            200,
        )


async def test_openai_stream_is_sse_ending_in_done(http: aiohttp.ClientSession) -> None:
    sent: list[SentChunk] = []
    async with FakeLLMServer(SCRIPT, on_chunk=sent.append) as server:
        url = f"{server.base_url}/chat/completions"
        async with http.post(url, json=chat("tools", stream=True)) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            raw = (await resp.read()).decode()
    frames = [frame for frame in raw.split("\n\n") if frame]
    assert all(frame.startswith("data: ") for frame in frames)
    assert frames[-1] == "data: [DONE]"
    payloads = [orjson.loads(frame.removeprefix("data: ")) for frame in frames[:-1]]
    assert payloads[-1]["usage"]["completion_tokens"] == 5
    assert len(sent) == len(frames)
    assert [chunk.last for chunk in sent] == [False] * (len(frames) - 1) + [True]


async def test_anthropic_stream_names_every_event(http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(SCRIPT) as server:
        body = {"model": "tools", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(
            f"{server.root_url}/v1/messages", json={**body, "stream": True}
        ) as resp:
            raw = (await resp.read()).decode()
    frames = [frame.split("\n") for frame in raw.split("\n\n") if frame]
    for event_line, data_line in frames:
        name = event_line.removeprefix("event: ")
        assert orjson.loads(data_line.removeprefix("data: "))["type"] == name
    assert frames[0][0] == "event: message_start"
    assert frames[-1][0] == "event: message_stop"


async def test_scripted_error_is_answered_times_then_the_turn(http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(SCRIPT) as server:
        url = f"{server.base_url}/chat/completions"
        statuses = []
        for _ in range(3):
            async with http.post(url, json=chat("flaky")) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    assert resp.headers["retry-after"] == "0.05"
                    assert (await resp.json())["error"]["type"] == "rate_limit_exceeded"
        assert statuses == [429, 429, 200]
        # another prompt is another instance of the conversation: its own error budget
        other = chat("flaky", messages=[{"role": "user", "content": "another prompt"}])
        async with http.post(url, json=other) as resp:
            assert resp.status == 429
        server.reset()
        assert server.requests == []
        async with http.post(url, json=chat("flaky")) as resp:
            assert resp.status == 429


async def test_anthropic_error_body_shape(http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(SCRIPT) as server:
        body = {"model": "flaky", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(f"{server.root_url}/v1/messages", json=body) as resp:
            assert resp.status == 429
            assert (await resp.json())["error"]["type"] == "rate_limit_error"


async def test_wrong_api_key_is_401(http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(SCRIPT, api_key="right") as server:
        url = f"{server.base_url}/chat/completions"
        async with http.post(
            url, json=chat("tools"), headers={"Authorization": "Bearer wrong"}
        ) as resp:
            assert resp.status == 401
        async with http.post(
            url, json=chat("tools"), headers={"Authorization": "Bearer right"}
        ) as resp:
            assert resp.status == 200


async def test_unmatched_request_is_400_saying_why(http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(SCRIPT) as server:
        url = f"{server.base_url}/chat/completions"
        async with http.post(url, json=chat("nobody")) as resp:
            assert resp.status == 400
            assert "cannot tell which conversation" in (await resp.json())["error"]["message"]
        async with http.post(url, data=b"[1, 2]") as resp:
            assert resp.status == 400


async def test_port_before_start_is_an_error() -> None:
    server = FakeLLMServer(SCRIPT)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url


async def test_plain_answer_takes_as_long_as_the_stream(http: aiohttp.ClientSession) -> None:
    # 2 text pieces + 1 call (header + 1 piece) + role, finish and [DONE]: 7 frames,
    # so 6 gaps of 40 ms after the 50 ms latency; only a lower bound is asserted
    script = {
        "turns": [
            {
                "text": "one two",
                "tool_calls": [{"name": "f", "arguments": {}}],
                "latency_ms": 50,
                "token_delay_ms": 40,
            }
        ]
    }
    async with FakeLLMServer(script) as server:
        started = time.monotonic()
        async with http.post(f"{server.base_url}/chat/completions", json=chat("m")) as resp:
            assert resp.status == 200
        assert time.monotonic() - started >= 0.05 + 6 * 0.04
