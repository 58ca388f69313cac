"""Chat Completions chunks in, provider events out: pure, fed one chunk at a time.

OpenAI streams parallel tool calls one after another, each identified by its
``index``: a call's arguments are complete when a higher index starts, when a
``finish_reason`` arrives, or when the stream ends. Servers that send a whole
call in one chunk, or several calls in one chunk (some proxies do), fit the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def feed(self, chunk: ChatCompletionChunk) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        if chunk.usage is not None:
            self._usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            if choice.index != 0:
                continue  # n > 1 is not used by the session loop
            delta = choice.delta
            if delta.content:
                self._text.append(delta.content)
                events.append(TextDelta(delta.content))
            for part in delta.tool_calls or ():
                if part.index not in self._seen:
                    events += self._close(below=part.index)
                    self._seen.add(part.index)
                    self._open[part.index] = _PartialCall(part.index)
                call = self._open.get(part.index)
                if call is None:
                    continue  # a late fragment of a call already closed: nothing to add
                if part.id:
                    call.call_id = part.id
                if part.function is not None:
                    if part.function.name:
                        call.name += part.function.name
                    if part.function.arguments:
                        call.argument_parts.append(part.function.arguments)
            if choice.finish_reason is not None:
                self._finish_reason = choice.finish_reason
                events += self._close(below=None)
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
