"""What a provider yields while a turn streams in, the same for every provider.

A :class:`ToolCallReady` is yielded as soon as one call's arguments are complete,
before the turn ends, so its tool can start while the model is still talking.
Arguments that are not a JSON object arrive as ``error`` text, never as an
exception: the session feeds that error back to the model as the tool's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .messages import AssistantMessage, ToolCall

__all__ = [
    "ProviderEvent",
    "TextDelta",
    "ToolCallReady",
    "TurnFinished",
    "Usage",
    "parse_arguments",
]


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallReady:
    """One complete tool call; ``index`` is its position in the model's turn."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None
    error: str | None = None
    raw_arguments: str = ""
    index: int = 0

    def as_tool_call(self) -> ToolCall:
        return ToolCall(self.call_id, self.name, self.arguments, self.raw_arguments)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The whole turn. ``finish_reason`` uses OpenAI's words for every provider:
    ``stop``, ``tool_calls``, ``length``, ``content_filter`` (others passed through).
    ``llm_ms`` runs from sending the request (retries included) to the last byte."""

    text: str
    tool_calls: tuple[ToolCallReady, ...]
    usage: Usage
    finish_reason: str
    llm_ms: float

    def assistant_message(self) -> AssistantMessage:
        """The turn as it goes back into the conversation history."""
        return AssistantMessage(self.text, tuple(call.as_tool_call() for call in self.tool_calls))


ProviderEvent = TextDelta | ToolCallReady | TurnFinished


def parse_arguments(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(arguments, None)`` for a JSON object (empty text counts as ``{}``), else
    ``(None, error)`` with a message the model can act on."""
    if not raw.strip():
        return {}, None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"the arguments are not valid JSON ({exc}); received {raw[:200]!r}"
    if not isinstance(value, dict):
        return None, f"the arguments must be a JSON object, received {type(value).__name__}"
    return value, None
