"""Model providers behind one small interface, so the session loop is provider-neutral.

A provider turns a :class:`TurnRequest` into a stream of events: text deltas,
each tool call the moment its arguments are complete (:class:`ToolCallReady`),
then :class:`TurnFinished`. Two real implementations sit on the official SDKs;
:class:`InMemoryProvider` serves unit tests::

    provider = OpenAIChatProvider(base_url="http://127.0.0.1:8089/v1", api_key="x", model="m")
    async for event in provider.stream_turn(TurnRequest((UserMessage("hi"),), tools)):
        if isinstance(event, ToolCallReady):
            dispatch(event)  # before the model has finished its turn
"""

from .anthropic_assembler import AnthropicStreamAssembler, events_from_message
from .anthropic_provider import AnthropicMessagesProvider
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
from .openai_assembler import OpenAIStreamAssembler, events_from_completion
from .openai_provider import OpenAIChatProvider

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
    "parse_arguments",
]
