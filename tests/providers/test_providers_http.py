"""Both providers through the real SDKs over real HTTP against the scripted server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from async_toolformer.agents.providers import (
    AnthropicMessagesProvider,
    InMemoryProvider,
    LLMProvider,
    OpenAIChatProvider,
    ProviderAuthError,
    ProviderError,
    ProviderEvent,
    ProviderRateLimitError,
    TextDelta,
    ToolCallReady,
    ToolResultMessage,
    TurnFinished,
    TurnRequest,
    UserMessage,
)
from async_toolformer.agents.tools.registry import ToolRegistry, tool
from async_toolformer.streams.devtools.fakellm import FakeLLMServer, SentChunk

from .conftest import Kind, ProviderFactory

REGISTRY = ToolRegistry()


@tool(registry=REGISTRY)
async def web_search(query: str) -> list[str]:
    """Search the web."""
    return [query]


@tool(registry=REGISTRY)
async def fetch(url: str) -> str:
    """Fetch a page."""
    return url


TOOLS = tuple(REGISTRY.openai_tools())
LONG = "a fairly long query so its arguments stream in many small pieces"

SCRIPT: dict[str, Any] = {
    "defaults": {"token_delay_ms": 1},
    "conversations": {
        "research": {
            "turns": [
                {
                    "text": "Let me check three sources.",
                    "tool_calls": [
                        {"name": "web_search", "arguments": {"query": "kafka"}},
                        {"name": "web_search", "arguments": {"query": "faust"}},
                        {"name": "fetch", "arguments": {"url": "http://example.org"}},
                    ],
                    "usage": {"prompt_tokens": 40, "completion_tokens": 12},
                },
                {"text": "Kafka is a distributed log."},
            ]
        },
        "order": {
            "turns": [
                {
                    "token_delay_ms": 25,
                    "chunk_chars": 6,
                    "tool_calls": [
                        {"name": "web_search", "arguments": {"query": "first"}},
                        {"name": "web_search", "arguments": {"query": LONG}},
                    ],
                }
            ]
        },
        "broken": {
            "turns": [
                {
                    "tool_calls": [
                        {"name": "web_search", "raw_arguments": '{"query": "unterminated'},
                        {"name": "no_such_tool", "arguments": {"x": 1}},
                    ]
                }
            ]
        },
        "rate": {
            "turns": [
                {
                    "text": "past the limit",
                    "error": {"status": 429, "retry_after": 0.05, "times": 2},
                }
            ]
        },
        "slow_rate": {"turns": [{"text": "waited", "error": {"status": 429, "retry_after": 0.8}}]},
        "flaky": {"turns": [{"text": "recovered", "error": {"status": 500, "retry_after": 0.01}}]},
        "down": {
            "turns": [{"text": "never", "error": {"status": 503, "retry_after": 0.01, "times": 9}}]
        },
        "limited": {
            "turns": [{"text": "never", "error": {"status": 429, "retry_after": 0.01, "times": 9}}]
        },
        "denied": {"turns": [{"text": "never", "error": {"status": 401, "message": "bad key"}}]},
    },
}


async def run(provider: LLMProvider, request: TurnRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream_turn(request)]


def finished_of(events: list[ProviderEvent]) -> TurnFinished:
    last = events[-1]
    assert isinstance(last, TurnFinished)
    assert not any(isinstance(event, TurnFinished) for event in events[:-1])
    return last


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "plain"])
async def test_two_turns_with_parallel_calls(
    kind: Kind, make_provider: ProviderFactory, streaming: bool
) -> None:
    async with (
        FakeLLMServer(SCRIPT) as server,
        make_provider(server, model="research", streaming=streaming) as provider,
    ):
        first_request = TurnRequest((UserMessage("what is kafka?"),), TOOLS)
        events = await run(provider, first_request)
        finished = finished_of(events)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == finished.text
        assert finished.text == "Let me check three sources."
        ready = [e for e in events if isinstance(e, ToolCallReady)]
        assert ready == list(finished.tool_calls)
        assert [(c.name, c.arguments, c.error, c.index) for c in ready] == [
            ("web_search", {"query": "kafka"}, None, 0),
            ("web_search", {"query": "faust"}, None, 1),
            ("fetch", {"url": "http://example.org"}, None, 2),
        ]
        assert len({c.call_id for c in ready}) == 3
        assert (
            finished.finish_reason,
            finished.usage.prompt_tokens,
            finished.usage.completion_tokens,
        ) == (
            "tool_calls",
            40,
            12,
        )
        assert finished.llm_ms > 0

        results = tuple(ToolResultMessage(c.call_id, f"result of {c.index}") for c in ready)
        history = (*first_request.messages, finished.assistant_message(), *results)
        final = finished_of(await run(provider, TurnRequest(history, TOOLS)))
        assert (final.text, final.tool_calls, final.finish_reason) == (
            "Kafka is a distributed log.",
            (),
            "stop",
        )

    assert [(r.turn_index, r.status, r.stream) for r in server.requests] == [
        (0, 200, streaming),
        (1, 200, streaming),
    ]
    sent = server.requests[1].body
    if kind == "openai":
        assert [t["function"]["name"] for t in sent["tools"]] == ["fetch", "web_search"]
        tool_messages = [m for m in sent["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tool_messages] == [c.call_id for c in ready]
    else:
        assert [t["name"] for t in sent["tools"]] == ["fetch", "web_search"]
        blocks = sent["messages"][-1]["content"]
        assert [b["tool_use_id"] for b in blocks] == [c.call_id for c in ready]


async def test_first_call_is_ready_before_the_stream_ends(
    kind: Kind, make_provider: ProviderFactory
) -> None:
    timeline: list[tuple[str, object]] = []

    def on_chunk(chunk: SentChunk) -> None:
        timeline.append(("server", chunk))

    async with (
        FakeLLMServer(SCRIPT, on_chunk=on_chunk) as server,
        make_provider(server, model="order") as provider,
    ):
        async for event in provider.stream_turn(TurnRequest((UserMessage("go"),), TOOLS)):
            timeline.append(("client", event))

    client = [event for who, event in timeline if who == "client"]
    ready = [event for event in client if isinstance(event, ToolCallReady)]
    assert [c.arguments for c in ready] == [{"query": "first"}, {"query": LONG}]
    first_ready = timeline.index(("client", ready[0]))
    last_chunk = next(
        i for i, (who, e) in enumerate(timeline) if isinstance(e, SentChunk) and e.last
    )
    # the first call was handed over while the server still had chunks to send
    assert first_ready < last_chunk
    assert client.index(ready[0]) < client.index(ready[1]) < len(client) - 1


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "plain"])
async def test_malformed_arguments_and_unknown_tool_are_data(
    make_provider: ProviderFactory, streaming: bool
) -> None:
    async with (
        FakeLLMServer(SCRIPT) as server,
        make_provider(server, model="broken", streaming=streaming) as provider,
    ):
        finished = finished_of(await run(provider, TurnRequest((UserMessage("go"),), TOOLS)))
    malformed, unknown = finished.tool_calls
    assert malformed.name == "web_search"
    assert malformed.arguments is None
    assert malformed.error is not None
    assert "not valid JSON" in malformed.error
    assert (unknown.name, unknown.arguments, unknown.error) == ("no_such_tool", {"x": 1}, None)


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "plain"])
async def test_429_then_success(make_provider: ProviderFactory, streaming: bool) -> None:
    async with (
        FakeLLMServer(SCRIPT) as server,
        make_provider(server, model="rate", streaming=streaming) as provider,
    ):
        finished = finished_of(await run(provider, TurnRequest((UserMessage("go"),))))
    assert finished.text == "past the limit"
    assert [r.status for r in server.requests] == [429, 429, 200]


async def test_retry_after_is_honoured(make_provider: ProviderFactory) -> None:
    # 0.8 s is longer than the SDKs' own first backoff (at most 0.5 s), so a shorter
    # gap would mean the header was ignored; only a lower bound is asserted
    async with (
        FakeLLMServer(SCRIPT) as server,
        make_provider(server, model="slow_rate") as provider,
    ):
        finished = finished_of(await run(provider, TurnRequest((UserMessage("go"),))))
    assert finished.text == "waited"
    rejected, accepted = server.requests
    assert (rejected.status, accepted.status) == (429, 200)
    assert accepted.received_at - rejected.received_at >= 0.75


async def test_server_error_is_retried(make_provider: ProviderFactory) -> None:
    async with FakeLLMServer(SCRIPT) as server, make_provider(server, model="flaky") as provider:
        finished = finished_of(await run(provider, TurnRequest((UserMessage("go"),))))
    assert finished.text == "recovered"
    assert [r.status for r in server.requests] == [500, 200]


async def test_rate_limit_past_the_retries_is_a_rate_limit_error(
    make_provider: ProviderFactory,
) -> None:
    async with (
        FakeLLMServer(SCRIPT) as server,
        make_provider(server, model="limited", max_retries=1) as provider,
    ):
        with pytest.raises(ProviderRateLimitError, match="429 after 1 retries") as caught:
            await run(provider, TurnRequest((UserMessage("go"),)))
    assert caught.value.status_code == 429
    assert len(server.requests) == 2


async def test_persistent_server_error_is_a_provider_error(make_provider: ProviderFactory) -> None:
    async with (
        FakeLLMServer(SCRIPT) as server,
        make_provider(server, model="down", max_retries=2) as provider,
    ):
        with pytest.raises(ProviderError, match="HTTP 503") as caught:
            await run(provider, TurnRequest((UserMessage("go"),)))
    assert caught.value.status_code == 503
    assert not isinstance(caught.value, ProviderAuthError)
    assert len(server.requests) == 3


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "plain"])
async def test_401_is_an_auth_error_without_retries(
    make_provider: ProviderFactory, streaming: bool
) -> None:
    async with (
        FakeLLMServer(SCRIPT) as server,
        make_provider(server, model="denied", streaming=streaming) as provider,
    ):
        with pytest.raises(ProviderAuthError, match="refused the credentials") as caught:
            await run(provider, TurnRequest((UserMessage("go"),)))
    assert caught.value.status_code == 401
    assert len(server.requests) == 1


async def test_wrong_key_is_an_auth_error(make_provider: ProviderFactory) -> None:
    async with (
        FakeLLMServer(SCRIPT, api_key="the-right-key") as server,
        make_provider(server, model="research", api_key="wrong") as provider,
    ):
        with pytest.raises(ProviderAuthError, match="Check the API key"):
            await run(provider, TurnRequest((UserMessage("go"),)))


async def test_unreachable_server_is_a_provider_error(make_provider: ProviderFactory) -> None:
    async with FakeLLMServer(SCRIPT) as server:
        provider = make_provider(server, model="research", max_retries=0)
    # the server is stopped now: nothing listens on its port
    async with provider:
        with pytest.raises(ProviderError, match="cannot reach"):
            await run(provider, TurnRequest((UserMessage("go"),)))


async def test_providers_satisfy_the_protocol() -> None:
    openai_provider = OpenAIChatProvider("http://127.0.0.1:1/v1", "key", "m")
    anthropic_provider = AnthropicMessagesProvider("http://127.0.0.1:1", "key", "m")
    providers: list[LLMProvider] = [openai_provider, anthropic_provider, InMemoryProvider([])]
    assert all(isinstance(provider, LLMProvider) for provider in providers)
    assert [(p.provider, p.model) for p in providers] == [
        ("openai", "m"),
        ("anthropic", "m"),
        ("memory", "scripted"),
    ]
    await openai_provider.aclose()
    await anthropic_provider.aclose()


async def test_stopping_early_closes_the_stream(make_provider: ProviderFactory) -> None:
    # a cancelled branch stops reading mid-turn; the provider must stay usable
    async with FakeLLMServer(SCRIPT) as server, make_provider(server, model="order") as provider:
        events = provider.stream_turn(TurnRequest((UserMessage("go"),), TOOLS))
        assert isinstance(events, AsyncGenerator)
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, ToolCallReady):
                    break
        again = finished_of(await run(provider, TurnRequest((UserMessage("again"),), TOOLS)))
    assert len(again.tool_calls) == 2
