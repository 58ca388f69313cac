"""The server's request log and its count of scripted errors stay bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from async_toolformer.streams.devtools.fakellm import FakeLLMServer, SentChunk

SCRIPT: dict[str, Any] = {
    "conversations": {
        "chat": {"turns": [{"text": "hi"}]},
        "flaky": {"turns": [{"text": "ok", "error": {"status": 500, "times": 1}}]},
    }
}


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _chat(model: str, prompt: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}


async def test_the_request_log_keeps_the_latest_and_numbers_every_request(
        http: aiohttp.ClientSession) -> None:
    sent: list[SentChunk] = []
    async with FakeLLMServer(SCRIPT, max_logged=3, on_chunk=sent.append) as server:
        for i in range(7):
            async with http.post(f"{server.base_url}/chat/completions",
                                 json=_chat("chat", f"p{i}", stream=i == 6)) as resp:
                assert resp.status == 200
                await resp.read()
        assert len(server.requests) == 3
        assert [r.number for r in server.requests] == [4, 5, 6]
        assert [r.body["messages"][0]["content"] for r in server.requests] == ["p4", "p5", "p6"]
        assert sent
        assert {chunk.request for chunk in sent} == {6}
        server.reset()
        assert server.requests == []


async def test_scripted_errors_are_counted_for_a_bounded_number_of_prompts(
        http: aiohttp.ClientSession) -> None:
    async with FakeLLMServer(SCRIPT, max_logged=2) as server:
        statuses = []
        for prompt in ("a", "a", "b", "c", "a"):  # "a" is forgotten once b and c came
            async with http.post(f"{server.base_url}/chat/completions",
                                 json=_chat("flaky", prompt)) as resp:
                statuses.append(resp.status)
        assert statuses == [500, 200, 500, 500, 500]
