"""Neutral messages to Chat Completions request parameters (pure)."""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from .messages import AssistantMessage, Message, SystemMessage, ToolResultMessage, UserMessage

__all__ = ["openai_messages"]


def openai_messages(messages: tuple[Message, ...]) -> list[ChatCompletionMessageParam]:
    return [_one(message) for message in messages]


def _one(message: Message) -> ChatCompletionMessageParam:
    match message:
        case SystemMessage(content=content):
            return {"role": "system", "content": content}
        case UserMessage(content=content):
            return {"role": "user", "content": content}
        case ToolResultMessage(call_id=call_id, content=content):
            return {"role": "tool", "tool_call_id": call_id, "content": content}
        case AssistantMessage(content=content, tool_calls=calls):
            param: dict[str, Any] = {"role": "assistant", "content": content or None}
            if calls:
                param["tool_calls"] = [
                    {
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments_json()},
                    }
                    for call in calls
                ]
            return param  # type: ignore[return-value]  # a TypedDict built from parts
