"""Messages API stream events in, provider events out: pure, fed one event at a time.

A tool_use content block's JSON arrives in ``input_json_delta`` pieces and is
complete at its ``content_block_stop``: that is when its ToolCallReady goes out.
Stop reasons are mapped to OpenAI's words so the session loop sees one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from anthropic.types import Message, RawMessageStreamEvent

from .events import ProviderEvent, TextDelta, ToolCallReady, TurnFinished, Usage, parse_arguments

__all__ = ["AnthropicStreamAssembler", "events_from_message", "finish_reason_of"]

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


def finish_reason_of(stop_reason: str | None, has_calls: bool) -> str:
    if stop_reason is None:
        return "tool_calls" if has_calls else "stop"
    return _FINISH_REASONS.get(stop_reason, stop_reason)


@dataclass(slots=True)
class _ToolBlock:
    position: int
    call_id: str
    name: str
    initial: Any
    json_parts: list[str] = field(default_factory=list)

    def ready(self) -> ToolCallReady:
        raw = "".join(self.json_parts)
        if not raw and self.initial:
            raw = _as_json(self.initial)  # a proxy that sent the whole input at the start
        arguments, error = parse_arguments(raw)
        return ToolCallReady(self.call_id, self.name, arguments, error, raw, self.position)


class AnthropicStreamAssembler:
    """Feed every stream event to :meth:`feed`, then call :meth:`finish` once."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._blocks: dict[int, _ToolBlock] = {}
        self._ready: list[ToolCallReady] = []
        self._stop_reason: str | None = None
        self._input_tokens = 0
        self._output_tokens = 0

    def feed(self, event: RawMessageStreamEvent) -> list[ProviderEvent]:
        match event.type:
            case "message_start":
                self._input_tokens = event.message.usage.input_tokens
                self._output_tokens = event.message.usage.output_tokens
            case "content_block_start":
                block = event.content_block
                if block.type == "tool_use":
                    self._blocks[event.index] = _ToolBlock(
                        len(self._ready) + len(self._blocks), block.id, block.name, block.input
                    )
                elif block.type == "text" and block.text:
                    self._text.append(block.text)
                    return [TextDelta(block.text)]
            case "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta" and delta.text:
                    self._text.append(delta.text)
                    return [TextDelta(delta.text)]
                if delta.type == "input_json_delta" and event.index in self._blocks:
                    self._blocks[event.index].json_parts.append(delta.partial_json)
            case "content_block_stop":
                tool_block = self._blocks.pop(event.index, None)
                if tool_block is not None:
                    ready = tool_block.ready()
                    self._ready.append(ready)
                    return [ready]
            case "message_delta":
                self._stop_reason = event.delta.stop_reason or self._stop_reason
                self._output_tokens = event.usage.output_tokens
                if event.usage.input_tokens is not None:
                    self._input_tokens = event.usage.input_tokens
            case _:
                pass
        return []

    def finish(self, llm_ms: float) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        for index in sorted(self._blocks):  # blocks never stopped: the stream was cut short
            ready = self._blocks.pop(index).ready()
            self._ready.append(ready)
            events.append(ready)
        calls = tuple(sorted(self._ready, key=lambda call: call.index))
        usage = Usage(self._input_tokens, self._output_tokens)
        reason = finish_reason_of(self._stop_reason, bool(calls))
        events.append(TurnFinished("".join(self._text), calls, usage, reason, llm_ms))
        return events


def events_from_message(message: Message, llm_ms: float) -> list[ProviderEvent]:
    """The same events for a non-streamed response, in the same order."""
    events: list[ProviderEvent] = []
    texts: list[str] = []
    calls: list[ToolCallReady] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
            events.append(TextDelta(block.text))
        elif block.type == "tool_use":
            raw = _as_json(block.input)
            arguments, error = parse_arguments(raw)
            ready = ToolCallReady(block.id, block.name, arguments, error, raw, len(calls))
            calls.append(ready)
            events.append(ready)
    usage = Usage(message.usage.input_tokens, message.usage.output_tokens)
    reason = finish_reason_of(message.stop_reason, bool(calls))
    events.append(TurnFinished("".join(texts), tuple(calls), usage, reason, llm_ms))
    return events


def _as_json(value: Any) -> str:
    """Tool input as JSON text; a string (a proxy passing malformed JSON on) stays as is."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
