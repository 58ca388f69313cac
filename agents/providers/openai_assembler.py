"""Chat Completions chunks in, provider events out: pure, fed one chunk at a time.

OpenAI streams parallel tool calls one after another, each identified by its
``index``: a call's arguments are complete when a higher index starts, when a
``finish_reason`` arrives, or when the stream ends. Servers that send a whole
call in one chunk, or several calls in one chunk (some proxies do), fit the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from .events import ProviderEvent, TextDelta, ToolCallReady, TurnFinished, Usage, parse_arguments

__all__ = ["OpenAIStreamAssembler", "events_from_completion"]


@dataclass(slots=True)
class _PartialCall:
    index: int
    call_id: str = ""
    name: str = ""
    argument_parts: list[str] = field(default_factory=list)

    def ready(self) -> ToolCallReady:
        raw = "".join(self.argument_parts)
        arguments, error = parse_arguments(raw)
        return ToolCallReady(
            call_id=self.call_id or f"call_{self.index}",
            name=self.name,
            arguments=arguments,
            error=error,
            raw_arguments=raw,
            index=self.index,
        )


class OpenAIStreamAssembler:
    """Feed every chunk to :meth:`feed`, then call :meth:`finish` once."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._open: dict[int, _PartialCall] = {}
        self._ready: list[ToolCallReady] = []
        self._seen: set[int] = set()
        self._finish_reason: str | None = None
        self._usage = Usage()

    def feed(self, chunk: ChatCompletionChunk | dict[str, Any]) -> list[ProviderEvent]:
        """Events of one chunk: the SDK's model, or the chunk's JSON object as streamed.

        The JSON comes from the model server: every field is checked for its type
        and what does not fit is ignored, as the SDK's unvalidated models would.
        """
        data = chunk if isinstance(chunk, dict) else chunk.model_dump()
        events: list[ProviderEvent] = []
        usage = data.get("usage")
        if isinstance(usage, dict):
            self._usage = Usage(_count(usage.get("prompt_tokens")),
                                _count(usage.get("completion_tokens")))
        choices = data.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # n > 1 is not used by the session loop
            delta = choice.get("delta")
            if isinstance(delta, dict):
                events += self._delta(delta)
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self._finish_reason = reason
                events += self._close(below=None)
        return events

    def _delta(self, delta: dict[str, Any]) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text.append(content)
            events.append(TextDelta(content))
        parts = delta.get("tool_calls")
        for part in parts if isinstance(parts, list) else ():
            index = part.get("index") if isinstance(part, dict) else None
            if not isinstance(index, int) or isinstance(index, bool):
                continue
            if index not in self._seen:
                events += self._close(below=index)
                self._seen.add(index)
                self._open[index] = _PartialCall(index)
            call = self._open.get(index)
            if call is None:
                continue  # a late fragment of a call already closed: nothing to add
            if isinstance(call_id := part.get("id"), str) and call_id:
                call.call_id = call_id
            function = part.get("function")
            if isinstance(function, dict):
                if isinstance(name := function.get("name"), str):
                    call.name += name
                if isinstance(arguments := function.get("arguments"), str) and arguments:
                    call.argument_parts.append(arguments)
        return events

    def finish(self, llm_ms: float) -> list[ProviderEvent]:
        events = self._close(below=None)
        calls = tuple(sorted(self._ready, key=lambda call: call.index))
        reason = self._finish_reason or ("tool_calls" if calls else "stop")
        events.append(TurnFinished("".join(self._text), calls, self._usage, reason, llm_ms))
        return events

    def _close(self, below: int | None) -> list[ProviderEvent]:
        """Emit the open calls (those with an index under ``below``, or all)."""
        closing = sorted(i for i in self._open if below is None or i < below)
        ready = [self._open.pop(i).ready() for i in closing]
        self._ready += ready
        return list(ready)


def events_from_completion(completion: ChatCompletion, llm_ms: float) -> list[ProviderEvent]:
    """The same events for a non-streamed response, in the same order."""
    events: list[ProviderEvent] = []
    usage = (
        Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens)
        if completion.usage
        else Usage()
    )
    if not completion.choices:
        events.append(TurnFinished("", (), usage, "stop", llm_ms))
        return events
    choice = completion.choices[0]
    text = choice.message.content or ""
    if text:
        events.append(TextDelta(text))
    calls: list[ToolCallReady] = []
    for index, call in enumerate(choice.message.tool_calls or ()):
        if call.type != "function":
            continue  # custom (free-form) tools are not produced by the registry
        partial = _PartialCall(index, call.id, call.function.name, [call.function.arguments])
        calls.append(partial.ready())
    events += calls
    events.append(TurnFinished(text, tuple(calls), usage, choice.finish_reason, llm_ms))
    return events


def _count(value: object) -> int:
    """A token count as the server sent it, 0 if it is not a plain non-negative int."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
