"""The closing figures of a session, computed from its folded state."""

from __future__ import annotations

from datetime import datetime

from async_toolformer.schemas import SessionTimings, TokenUsage

from .state import SessionState

__all__ = ["session_timings", "session_usage"]


def session_timings(state: SessionState, at: datetime) -> SessionTimings:
    """Timings at ``at``. ``speedup`` = (model time + tools one after another) / wall time."""
    wall_ms = max(0.0, (at - state.request.started_at).total_seconds() * 1000)
    sequential_total = state.llm_ms + state.sequential_tool_ms
    return SessionTimings(
        llm_ms=round(state.llm_ms, 3),
        tool_ms=round(state.tool_wait_ms, 3),
        wall_ms=round(wall_ms, 3),
        sequential_tool_ms=round(state.sequential_tool_ms, 3),
        speedup=round(sequential_total / wall_ms, 3) if wall_ms > 0 else 0.0,
        saved_tool_ms=round(state.saved_tool_ms, 3),
        speculation_saved_ms=round(state.speculation_saved_ms, 3),
    )


def session_usage(state: SessionState) -> TokenUsage:
    return TokenUsage(prompt_tokens=state.prompt_tokens,
                      completion_tokens=state.completion_tokens)
