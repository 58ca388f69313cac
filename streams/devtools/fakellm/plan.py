"""A scripted turn resolved into what gets sent: pieces, ids, usage, delays.

Both wire formats render the same plan, so OpenAI and Anthropic answers to the
same turn carry the same text, tool calls and token counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from async_toolformer.streams.devtools.fakellm.matching import TurnSelection
from async_toolformer.streams.devtools.fakellm.script import Timing

__all__ = ["PlannedCall", "ReplyPlan", "plan_reply"]

_WORDS = re.compile(r"\s*\S+\s*|\s+")


@dataclass(frozen=True, slots=True)
class PlannedCall:
    call_id: str
    name: str
    argument_pieces: tuple[str, ...]

    @property
    def arguments_json(self) -> str:
        return "".join(self.argument_pieces)


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """Text pieces go out one per chunk, then each call's argument pieces."""

    text_pieces: tuple[str, ...]
    calls: tuple[PlannedCall, ...]
    latency_s: float
    token_delay_s: float
    prompt_tokens: int
    completion_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.text_pieces)

    @property
    def piece_count(self) -> int:
        return len(self.text_pieces) + sum(len(call.argument_pieces) for call in self.calls)


def plan_reply(
    selection: TurnSelection, defaults: Timing, *, id_prefix: str, prompt_chars: int
) -> ReplyPlan:
    """The plan for one turn; ``prompt_chars`` sizes the default prompt token count."""
    turn = selection.turn
    timing = turn.timing(defaults)
    calls = tuple(
        PlannedCall(
            call_id=call.id or f"{id_prefix}{selection.instance}_{selection.turn_index}_{i}",
            name=call.name,
            argument_pieces=_split(call.arguments_json(), timing.chunk_chars),
        )
        for i, call in enumerate(turn.tool_calls)
    )
    text_pieces = tuple(_WORDS.findall(turn.text))
    pieces = len(text_pieces) + sum(len(call.argument_pieces) for call in calls)
    usage = turn.usage
    return ReplyPlan(
        text_pieces=text_pieces,
        calls=calls,
        latency_s=timing.latency_ms / 1000,
        token_delay_s=timing.token_delay_ms / 1000,
        prompt_tokens=usage.prompt_tokens if usage else max(1, prompt_chars // 4),
        completion_tokens=usage.completion_tokens if usage else pieces,
    )


def _split(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(0, len(text), size))
