"""A reply plan as OpenAI Chat Completions sends it: one JSON body, or SSE chunks.

The chunk sequence follows the real API: a role chunk, text deltas, then per
tool call a header chunk (``index``, ``id``, ``type``, name, empty arguments)
followed by argument pieces, a last choice chunk with ``finish_reason``, and when
``stream_options.include_usage`` is set a final chunk with no choices and the
usage (every earlier chunk then carries ``"usage": null``).
"""

from __future__ import annotations

from typing import Any

from async_toolformer.streams.devtools.fakellm.plan import ReplyPlan

__all__ = ["completion_body", "completion_chunks", "error_body"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


def _usage(plan: ReplyPlan) -> dict[str, int]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
    }


def _finish_reason(plan: ReplyPlan) -> str:
    return "tool_calls" if plan.calls else "stop"


def completion_body(plan: ReplyPlan, *, reply_id: str, model: str, created: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": plan.text or None, "refusal": None}
    if plan.calls:
        message["tool_calls"] = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json},
            }
            for call in plan.calls
        ]
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(plan),
            }
        ],
        "usage": _usage(plan),
    }


def completion_chunks(
    plan: ReplyPlan, *, reply_id: str, model: str, created: int, include_usage: bool
) -> list[dict[str, Any]]:
    """Every ``data:`` payload of the stream, in order (``[DONE]`` not included)."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            body["usage"] = None
        return body

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in plan.text_pieces]
    for index, call in enumerate(plan.calls):
        header = {
            "index": index,
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [header]}))
        chunks += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in call.argument_pieces
        ]
    chunks.append(chunk({}, _finish_reason(plan)))
    if include_usage:
        chunks.append(
            {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(plan),
            }
        )
    return chunks


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
