"""Errors a provider raises once the SDK's own retries are spent; each says what to do."""

from __future__ import annotations

from async_toolformer.schemas.exceptions import ToolformerError

__all__ = ["ProviderAuthError", "ProviderError", "ProviderRateLimitError"]


class ProviderError(ToolformerError):
    """The model API failed (HTTP status in ``status_code`` when there was one)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProviderAuthError(ProviderError):
    """The API key was refused (401/403) or missing: retrying will not help."""


class ProviderRateLimitError(ProviderError):
    """Still rate limited (429) after every retry: lower the request rate or raise max_retries."""
