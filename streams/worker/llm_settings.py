"""Model settings of a worker: which provider and model by default, where, with which keys.

Read from the environment: ``TOOLFORMER_LLM_PROVIDER``, ``TOOLFORMER_LLM_MODEL``,
``TOOLFORMER_LLM_BASE_URL`` (an OpenAI-compatible ``.../v1`` URL: vLLM, Ollama,
LiteLLM, the scripted server), ``TOOLFORMER_ANTHROPIC_BASE_URL``, and the keys
under the names the SDKs use, ``OPENAI_API_KEY`` and ``ANTHROPIC_API_KEY`` (or
from the files ``OPENAI_API_KEY_FILE`` and ``ANTHROPIC_API_KEY_FILE`` name, as
Kubernetes mounts Secrets). A session's options may name another provider or model.

Only the CLI builds these from the environment; a worker is handed them. The
keys are :class:`~pydantic.SecretStr`, so a repr or a log line shows ``**********``;
they are revealed only where the SDK client is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from async_toolformer.streams.worker.secret_values import secret_from_file

__all__ = ["LLMSettings"]


class LLMSettings(BaseSettings):
    """Which model sessions use by default, where it is served and with which keys."""

    model_config = SettingsConfigDict(env_prefix="TOOLFORMER_", extra="ignore",
                                      populate_by_name=True)

    llm_provider: Literal["openai", "anthropic"] = "openai"
    llm_model: str = Field(default="gpt-4o-mini", description="Model of sessions without one.")
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL (ends in /v1); unset: OpenAI.")
    anthropic_base_url: str | None = Field(
        default=None, description="Anthropic base URL; unset: llm_base_url without /v1, if set.")
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "TOOLFORMER_OPENAI_API_KEY"))
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "TOOLFORMER_ANTHROPIC_API_KEY"))
    openai_api_key_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY_FILE", "TOOLFORMER_OPENAI_API_KEY_FILE"))
    anthropic_api_key_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY_FILE",
                                                    "TOOLFORMER_ANTHROPIC_API_KEY_FILE"))
    llm_max_retries: int = Field(default=3, ge=0, description="Retries of 429/5xx answers.")
    llm_timeout_s: float = Field(default=120.0, gt=0)
    llm_max_tokens: int = Field(default=4096, ge=1, description="Anthropic requires a cap.")

    @model_validator(mode="after")
    def _keys_from_files(self) -> Self:
        self.openai_api_key = secret_from_file(
            "OPENAI_API_KEY", self.openai_api_key, self.openai_api_key_file)
        self.anthropic_api_key = secret_from_file(
            "ANTHROPIC_API_KEY", self.anthropic_api_key, self.anthropic_api_key_file)
        self.openai_api_key_file = self.anthropic_api_key_file = None  # read; not twice
        return self

    @classmethod
    def defaults(cls) -> LLMSettings:
        """The defaults alone, without reading the environment: a worker given no model."""
        return cls.model_construct()

    def anthropic_root(self) -> str | None:
        if self.anthropic_base_url:
            return self.anthropic_base_url
        if self.llm_base_url:
            return self.llm_base_url.rstrip("/").removesuffix("/v1")
        return None
