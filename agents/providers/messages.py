"""Provider-neutral conversation types: what the session loop sends to any model.

Tool schemas stay in the OpenAI function format the registry produces
(``ToolRegistry.openai_tools()``); the Anthropic provider translates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "AssistantMessage",
    "Message",
    "SystemMessage",
    "ToolCall",
    "ToolResultMessage",
    "TurnRequest",
    "UserMessage",
]


@dataclass(frozen=True, slots=True)
class SystemMessage:
    content: str


@dataclass(frozen=True, slots=True)
class UserMessage:
    content: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for. ``arguments`` is None when they did not parse;
    ``raw_arguments`` keeps what the model sent so the history shows it verbatim."""

    call_id: str
    name: str
    arguments: Mapping[str, Any] | None
    raw_arguments: str | None = None

    def arguments_json(self) -> str:
        if self.raw_arguments is not None:
            return self.raw_arguments
        return orjson.dumps(dict(self.arguments or {})).decode()


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolResultMessage:
    """A tool's result (or error text) answering ``call_id``."""

    call_id: str
    content: str
    is_error: bool = False


Message = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """One model turn: the conversation so far and the tools it may call."""

    messages: tuple[Message, ...]
    tools: tuple[Mapping[str, Any], ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
