"""Server-sent events of a streamed Chat Completion, as plain dicts.

The SDK turns every chunk of a stream into a typed model (``construct_type``)
and decodes the stream event by event in Python; at a few hundred concurrent
sessions that was half of a worker's event loop. The request, its retries,
authentication and the HTTP status checks stay with the SDK; only the body of a
successful streamed response is read here, a line at a time, each ``data:``
payload parsed once with orjson. An ``error`` event, or data that is not a JSON
object, ends the stream with a :class:`ProviderError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from .exceptions import ProviderError

__all__ = ["MAX_EVENT_CHARS", "sse_payloads"]

MAX_EVENT_CHARS = 4_000_000  # one event's data; a stream past it is broken or hostile


async def sse_payloads(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of a stream's ``data:`` events, up to ``[DONE]`` or the end.

    Raises :class:`ProviderError` for an error event, for data that is not a JSON
    object and for an event over :data:`MAX_EVENT_CHARS`.
    """
    event: str | None = None
    data: list[str] = []
    size = 0
    async for line in lines:
        if line:
            if line.startswith(":"):
                continue  # a comment (keep-alive)
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                size += len(value)
                if size > MAX_EVENT_CHARS:
                    raise ProviderError(f"a stream event over {MAX_EVENT_CHARS} characters")
                data.append(value)
            elif field == "event":
                event = value
            continue
        if data:
            text = "\n".join(data)
            if text.startswith("[DONE]"):
                return
            yield _payload(text, event)
        event, data, size = None, [], 0
    if data and not data[0].startswith("[DONE]"):
        yield _payload("\n".join(data), event)


def _payload(text: str, event: str | None) -> dict[str, Any]:
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(f"a stream event that is not JSON: {text[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise ProviderError(f"a stream event that is not a JSON object: {text[:200]!r}")
    error = payload.get("error")
    if error or event == "error":
        message = error.get("message") if isinstance(error, dict) else None
        raise ProviderError("the stream ended with an error: " + (
            message[:2000] if isinstance(message, str) and message else "(no message)"))
    return payload
