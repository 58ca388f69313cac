"""Providers on the official SDKs, pointed at a scripted server: one factory for both kinds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pytest

from async_toolformer.agents.providers import AnthropicMessagesProvider, OpenAIChatProvider
from async_toolformer.streams.devtools.fakellm import FakeLLMServer

Kind = Literal["openai", "anthropic"]
Provider = OpenAIChatProvider | AnthropicMessagesProvider
ProviderFactory = Callable[..., Provider]


@pytest.fixture(params=["openai", "anthropic"])
def kind(request: pytest.FixtureRequest) -> Kind:
    value: Kind = request.param
    return value


@pytest.fixture
def make_provider(kind: Kind) -> ProviderFactory:
    """``make_provider(server, model=CONVERSATION, streaming=..., max_retries=...)``."""

    def make(
        server: FakeLLMServer,
        *,
        model: str,
        streaming: bool = True,
        max_retries: int = 2,
        api_key: str = "test-key",
    ) -> Provider:
        if kind == "openai":
            return OpenAIChatProvider(
                server.base_url, api_key, model, streaming=streaming, max_retries=max_retries
            )
        return AnthropicMessagesProvider(
            server.root_url,
            api_key,
            model,
            streaming=streaming,
            max_retries=max_retries,
            max_tokens=512,
        )

    return make
