"""Model settings: keys stay hidden until the SDK client is built; defaults read no environment."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from async_toolformer.agents.providers import OpenAIChatProvider
from async_toolformer.schemas import SessionOptions
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.providers import SettingsProviders

KEY = "sk-do-not-print-me"


def test_keys_never_show_in_a_repr_or_a_dump() -> None:
    settings = LLMSettings.defaults().model_copy(update={
        "openai_api_key": SecretStr(KEY), "anthropic_api_key": SecretStr(KEY)})
    for shown in (repr(settings), str(settings), settings.model_dump_json(),
                  str(settings.model_dump())):
        assert KEY not in shown


def test_keys_read_from_the_environment_are_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings = LLMSettings()
    assert isinstance(settings.openai_api_key, SecretStr)
    assert KEY not in repr(settings)


async def test_the_sdk_client_gets_the_key_itself() -> None:
    settings = LLMSettings.defaults().model_copy(update={
        "llm_base_url": "http://127.0.0.1:1/v1", "openai_api_key": SecretStr(KEY)})
    providers = SettingsProviders(settings)
    try:
        provider = providers.provider(SessionOptions())
        assert isinstance(provider, OpenAIChatProvider)
        assert provider._client.api_key == KEY
    finally:
        await providers.aclose()


def test_defaults_do_not_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLFORMER_LLM_MODEL", "from-the-environment")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    defaults = LLMSettings.defaults()
    assert defaults.llm_model == "gpt-4o-mini"
    assert defaults.openai_api_key is None
    assert LLMSettings().llm_model == "from-the-environment"  # only the CLI builds this one
