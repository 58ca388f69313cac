"""Providers for sessions, built from settings and a session's options, one per kind and model.

Providers are reused across sessions: each holds an HTTP connection pool. The
model a session names is the producer's choice, so the cache keeps only the most
recently used ``max_providers``; an evicted provider is not closed here (a turn
may still stream through it): its SDK client closes its connections once the
last turn using it lets it go.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from pydantic import SecretStr

from async_toolformer.agents import providers
from async_toolformer.agents.providers import LLMProvider
from async_toolformer.schemas import SessionOptions
from async_toolformer.streams.worker.llm_settings import LLMSettings

if TYPE_CHECKING:
    from async_toolformer.agents.providers import AnthropicMessagesProvider, OpenAIChatProvider

    Provider = OpenAIChatProvider | AnthropicMessagesProvider

__all__ = ["SettingsProviders"]


class SettingsProviders:
    """A ``ProviderSource``: the provider a session's options ask for, or the settings' default."""

    def __init__(self, settings: LLMSettings, *, max_providers: int = 32) -> None:
        self.settings = settings
        self.max_providers = max_providers
        self._cache: OrderedDict[tuple[str, str, bool], Provider] = OrderedDict()

    def provider(self, options: SessionOptions) -> LLMProvider:
        kind = options.provider or self.settings.llm_provider
        model = options.model or self.settings.llm_model
        key = (kind, model, options.streaming)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._build(kind, model, options.streaming)
            while len(self._cache) > self.max_providers:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found

    def _build(self, kind: str, model: str, streaming: bool) -> Provider:
        s = self.settings
        if kind == "anthropic":
            return providers.AnthropicMessagesProvider(
                s.anthropic_root(), _revealed(s.anthropic_api_key), model, streaming=streaming,
                max_tokens=s.llm_max_tokens, max_retries=s.llm_max_retries,
                timeout_s=s.llm_timeout_s)
        return providers.OpenAIChatProvider(
            s.llm_base_url, _revealed(s.openai_api_key), model, streaming=streaming,
            max_retries=s.llm_max_retries, timeout_s=s.llm_timeout_s)

    async def aclose(self) -> None:
        providers = list(self._cache.values())
        self._cache.clear()
        for provider in providers:
            await provider.aclose()


def _revealed(key: SecretStr | None) -> str | None:
    """The key itself, for the SDK client only: everywhere else it stays a SecretStr."""
    return key.get_secret_value() if key is not None else None
