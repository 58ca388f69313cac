"""How results and refusals read to the model: the text of each tool message."""

from __future__ import annotations

import orjson

from async_toolformer.schemas import ToolCallCompleted

from .state import Settled

__all__ = ["refused", "settled_from_result"]

_MAX_CHARS = 20_000


def settled_from_result(result: ToolCallCompleted) -> Settled:
    if result.ok:
        output = result.output
        text = output if isinstance(output, str) else _json(output)
        return Settled(text[:_MAX_CHARS], False, result.status.value, result.timings.run_ms)
    error = result.error
    detail = f"{error.type}: {error.message}" if error else "no detail"
    return Settled(f"error ({result.status.value}): {detail}", True, result.status.value,
                   result.timings.run_ms)


def refused(message: str) -> Settled:
    """A call that was never run (malformed arguments, unknown tool)."""
    return Settled(f"error: {message}", True, "rejected")


def _json(value: object) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)
