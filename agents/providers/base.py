"""The seam between the session loop and a model API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from .events import ProviderEvent
from .messages import TurnRequest

__all__ = ["LLMProvider"]


@runtime_checkable
class LLMProvider(Protocol):
    """Runs one model turn. ``provider`` and ``model`` key rate limits and the ledger."""

    provider: str
    model: str

    def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        """Text deltas and ready tool calls as they come, then one TurnFinished.

        Raises ProviderAuthError, ProviderRateLimitError or ProviderError once the
        configured retries are spent.
        """
        ...
