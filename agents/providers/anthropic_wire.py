"""Neutral messages and OpenAI tool schemas to Messages API parameters (pure).

System messages go to the ``system`` parameter; tool results become
``tool_result`` blocks in a user turn; consecutive messages of one role are
merged, since the API wants user and assistant turns to alternate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .messages import AssistantMessage, Message, SystemMessage, ToolResultMessage, UserMessage

__all__ = ["anthropic_messages", "anthropic_tools"]


def anthropic_tools(tools: tuple[Mapping[str, Any], ...]) -> list[dict[str, Any]]:
    """OpenAI ``{"type": "function", "function": {...}}`` schemas as Anthropic tools."""
    converted = []
    for schema in tools:
        function = schema.get("function", schema)
        converted.append(
            {
                "name": function["name"],
                "description": function.get("description", ""),
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    return converted


def anthropic_messages(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` for ``messages.create``."""
    system = "\n\n".join(m.content for m in messages if isinstance(m, SystemMessage)) or None
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            continue
        role = "assistant" if isinstance(message, AssistantMessage) else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _blocks(message: Message) -> list[dict[str, Any]]:
    match message:
        case UserMessage(content=content):
            return [{"type": "text", "text": content}]
        case ToolResultMessage(call_id=call_id, content=content, is_error=is_error):
            return [
                {
                    "type": "tool_result",
                    "tool_use_id": call_id,
                    "content": content,
                    "is_error": is_error,
                }
            ]
        case AssistantMessage(content=content, tool_calls=calls):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": call.call_id,
                    "name": call.name,
                    # malformed arguments cannot be replayed as an object; the error
                    # tool_result that follows tells the model what was wrong
                    "input": dict(call.arguments) if call.arguments is not None else {},
                }
                for call in calls
            ]
            return blocks
        case _:
            return []
