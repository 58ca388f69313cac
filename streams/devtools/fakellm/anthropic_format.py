"""A reply plan as the Anthropic Messages API sends it: one JSON body, or SSE events.

The event sequence follows the real API: ``message_start`` (input tokens), then
per content block ``content_block_start`` (text / tool_use), its deltas
(``text_delta`` / ``input_json_delta``) and ``content_block_stop``, then
``message_delta`` with the stop reason and output tokens, and ``message_stop``.
"""

from __future__ import annotations

from typing import Any

import orjson

from async_toolformer.streams.devtools.fakellm.plan import ReplyPlan

__all__ = ["error_body", "message_body", "message_events"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _stop_reason(plan: ReplyPlan) -> str:
    return "tool_use" if plan.calls else "end_turn"


def _tool_input(arguments_json: str) -> Any:
    """Parsed input; a malformed scripted string is passed on as the string itself."""
    try:
        return orjson.loads(arguments_json)
    except orjson.JSONDecodeError:
        return arguments_json


def message_body(plan: ReplyPlan, *, reply_id: str, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if plan.text:
        content.append({"type": "text", "text": plan.text})
    content += [
        {
            "type": "tool_use",
            "id": call.call_id,
            "name": call.name,
            "input": _tool_input(call.arguments_json),
        }
        for call in plan.calls
    ]
    return {
        "id": reply_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(plan),
        "stop_sequence": None,
        "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": plan.completion_tokens},
    }


def message_events(
    plan: ReplyPlan, *, reply_id: str, model: str
) -> list[tuple[str, dict[str, Any]]]:
    """Every SSE event as ``(event name, data)``, in order."""
    start = message_body(plan, reply_id=reply_id, model=model)
    start.update(
        content=[], stop_reason=None, usage={"input_tokens": plan.prompt_tokens, "output_tokens": 1}
    )
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if plan.text_pieces:
        blocks.append(
            (
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": piece} for piece in plan.text_pieces],
            )
        )
    blocks += [
        (
            {"type": "tool_use", "id": call.call_id, "name": call.name, "input": {}},
            [{"type": "input_json_delta", "partial_json": piece} for piece in call.argument_pieces],
        )
        for call in plan.calls
    ]
    for index, (block, deltas) in enumerate(blocks):
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            for delta in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(plan), "stop_sequence": None},
                "usage": {"output_tokens": plan.completion_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
