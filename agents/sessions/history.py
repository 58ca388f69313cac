"""The conversation a session sends the model: its start, then each settled turn."""

from __future__ import annotations

from async_toolformer.schemas import ChatMessage, SessionStarted

from ..providers import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from .state import TurnState

__all__ = ["initial_messages", "turn_messages"]


def initial_messages(request: SessionStarted) -> list[Message]:
    messages = [_message(message) for message in request.messages]
    if request.prompt is not None:
        messages.append(UserMessage(request.prompt))
    return messages


def turn_messages(turn: TurnState) -> list[Message]:
    """The assistant's turn and one tool message per call, in the model's order."""
    assert turn.completed is not None
    calls = [turn.calls[index] for index in sorted(turn.calls)]
    assistant = AssistantMessage(
        turn.completed.text,
        tuple(ToolCall(c.llm_call_id, c.tool, c.arguments, c.raw_arguments) for c in calls),
    )
    results: list[Message] = [
        ToolResultMessage(c.llm_call_id, c.settled.content, c.settled.is_error)
        for c in calls if c.settled is not None
    ]
    return [assistant, *results]


def _message(message: ChatMessage) -> Message:
    if message.role == "system":
        return SystemMessage(message.content)
    if message.role == "assistant":
        return AssistantMessage(message.content)
    return UserMessage(message.content)
