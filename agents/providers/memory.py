"""An in-memory provider for unit tests of the session loop: no HTTP, no SDK.

Like the scripted server, it picks the reply by the number of assistant messages
already in the request, so it is stateless and retried turns repeat exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from .events import ProviderEvent, TextDelta, ToolCallReady, TurnFinished, Usage, parse_arguments
from .exceptions import ProviderError
from .messages import AssistantMessage, TurnRequest

__all__ = ["InMemoryProvider"]


class InMemoryProvider:
    """Replays ``replies`` turn by turn; a ToolCall's ``raw_arguments`` is sent
    as is (to script malformed JSON). Requests are kept in ``requests``."""

    provider = "memory"

    def __init__(self, replies: Sequence[AssistantMessage], model: str = "scripted") -> None:
        self.model = model
        self._replies = tuple(replies)
        self.requests: list[TurnRequest] = []

    async def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        turn = sum(isinstance(message, AssistantMessage) for message in request.messages)
        if turn >= len(self._replies):
            raise ProviderError(
                f"the in-memory provider has {len(self._replies)} replies; turn {turn} was "
                "asked for"
            )
        reply = self._replies[turn]
        if reply.content:
            yield TextDelta(reply.content)
        calls = []
        for index, call in enumerate(reply.tool_calls):
            raw = call.arguments_json()
            arguments, error = parse_arguments(raw)
            ready = ToolCallReady(call.call_id, call.name, arguments, error, raw, index)
            calls.append(ready)
            yield ready
        reason = "tool_calls" if calls else "stop"
        yield TurnFinished(reply.content, tuple(calls), Usage(), reason, 0.0)
