"""Model providers behind one small interface, so the session loop is provider-neutral.

A provider turns a :class:`TurnRequest` into a stream of events: text deltas,
each tool call the moment its arguments are complete (:class:`ToolCallReady`),
then :class:`TurnFinished`. Two real implementations sit on the official SDKs;
:class:`InMemoryProvider` serves unit tests::

    provider = OpenAIChatProvider(base_url="http://127.0.0.1:8089/v1", api_key="x", model="m")
    async for event in provider.stream_turn(TurnRequest((UserMessage("hi"),), tools)):
        if isinstance(event, ToolCallReady):
            dispatch(event)  # before the model has finished its turn

The SDK-backed names are imported when first used: the ``anthropic`` and
``openai`` packages take about 1.5 s to import, which every ``toolformer``
command that never calls a model (``publish``, ``cancel``, ...) would pay. A
process that will call models imports them up front with :func:`import_sdks`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import LLMProvider
from .events import ProviderEvent, TextDelta, ToolCallReady, TurnFinished, Usage, parse_arguments
from .exceptions import ProviderAuthError, ProviderError, ProviderRateLimitError
from .memory import InMemoryProvider
from .messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    TurnRequest,
    UserMessage,
)

if TYPE_CHECKING:
    from .anthropic_assembler import AnthropicStreamAssembler, events_from_message
    from .anthropic_provider import AnthropicMessagesProvider
    from .openai_assembler import OpenAIStreamAssembler, events_from_completion
    from .openai_provider import OpenAIChatProvider

_ON_THE_SDKS = {
    "AnthropicMessagesProvider": ".anthropic_provider",
    "AnthropicStreamAssembler": ".anthropic_assembler",
    "events_from_message": ".anthropic_assembler",
    "OpenAIChatProvider": ".openai_provider",
    "OpenAIStreamAssembler": ".openai_assembler",
    "events_from_completion": ".openai_assembler",
}

__all__ = [
    "AnthropicMessagesProvider",
    "AnthropicStreamAssembler",
    "AssistantMessage",
    "InMemoryProvider",
    "LLMProvider",
    "Message",
    "OpenAIChatProvider",
    "OpenAIStreamAssembler",
    "ProviderAuthError",
    "ProviderError",
    "ProviderEvent",
    "ProviderRateLimitError",
    "SystemMessage",
    "TextDelta",
    "ToolCall",
    "ToolCallReady",
    "ToolResultMessage",
    "TurnFinished",
    "TurnRequest",
    "Usage",
    "UserMessage",
    "events_from_completion",
    "events_from_message",
    "import_sdks",
    "parse_arguments",
]


def __getattr__(name: str) -> Any:
    module = _ON_THE_SDKS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # looked up once
    return value


def import_sdks() -> None:
    """Import the SDK-backed providers now, not when a session first needs one.

    A worker calls this while it starts: the import then blocks nothing, and what
    it loads is frozen out of the garbage collector's view with the rest of the
    start-up heap, instead of stalling the event loop in the first session's turn.
    """
    for name in _ON_THE_SDKS:
        __getattr__(name)
