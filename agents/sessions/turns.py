"""Driving one model turn: provider events in, session events out, as they stream.

Each tool call is handed on the moment its arguments are complete, so it is
dispatched while the model is still writing the rest of its turn. Failures end
as an LLMTurnFailed event, never as an exception escaping the task.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from opentelemetry.trace import Span

from async_toolformer.schemas import (
    LLMToolCall,
    LLMTurnCompleted,
    LLMTurnFailed,
    LLMTurnStarted,
    SessionEvent,
    TokenUsage,
    ToolCallProposed,
)

from ..providers import ProviderAuthError, ProviderError, ToolCallReady, TurnFinished
from ..tracing import TRACING, attempt_ended, bind_span, turn_started, unbind_span
from .commands import CallModel
from .plan_mode import PlanReader
from .ports import ProviderSource

__all__ = ["drive_turn"]

logger = logging.getLogger(__name__)


async def drive_turn(command: CallModel, providers: ProviderSource,
                     feed: Callable[[SessionEvent], object],
                     still_wanted: Callable[[], bool]) -> None:
    """Run ``command``'s turn, feeding each event to ``feed`` while ``still_wanted()``."""
    session_id, turn = command.session_id, command.turn
    plan = PlanReader(session_id, turn) if command.options.plan else None
    feed(LLMTurnStarted(session_id=session_id, turn=turn, attempt=command.attempt))
    span: Span | None = None
    bound: object | None = None
    try:
        provider = providers.provider(command.options)
        if TRACING.on:  # the turn's span; the calls it dispatches carry its context
            span = turn_started(str(provider.provider), str(provider.model), turn)
            bound = bind_span(span)
        stream = provider.stream_turn(command.request)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for event in stream:
                if not still_wanted():
                    return
                for proposed in plan.read(event) if plan is not None else ():
                    feed(proposed)  # each plan step the moment its line is complete
                if isinstance(event, ToolCallReady):
                    index = event.index if plan is None else plan.native_index(event.index)
                    feed(ToolCallProposed(
                        session_id=session_id, turn=turn, index=index,
                        llm_call_id=event.call_id, tool=event.name, arguments=event.arguments,
                        raw_arguments=event.raw_arguments, error=event.error))
                elif isinstance(event, TurnFinished):
                    if span is not None:
                        span.set_attribute("gen_ai.usage.input_tokens", event.usage.prompt_tokens)
                        span.set_attribute("gen_ai.usage.output_tokens",
                                           event.usage.completion_tokens)
                        span.set_attribute("gen_ai.response.finish_reasons",
                                           [str(event.finish_reason)])
                    feed(LLMTurnCompleted(
                        session_id=session_id, turn=turn, text=event.text,
                        tool_calls=tuple(LLMToolCall(llm_call_id=c.call_id, tool=c.name,
                                                     raw_arguments=c.raw_arguments)
                                         for c in event.tool_calls),
                        finish_reason=event.finish_reason,
                        usage=TokenUsage(prompt_tokens=event.usage.prompt_tokens,
                                         completion_tokens=event.usage.completion_tokens),
                        llm_ms=event.llm_ms))
    except ProviderAuthError as exc:
        attempt_ended(span, exc)
        span = None
        feed(LLMTurnFailed(session_id=session_id, turn=turn, error=str(exc), auth=True))
    except ProviderError as exc:
        attempt_ended(span, exc)
        span = None
        feed(LLMTurnFailed(session_id=session_id, turn=turn, error=str(exc)))
    except Exception as exc:  # a bug must end the session, not hang it
        attempt_ended(span, exc)
        span = None
        logger.exception("model turn %d of session %s crashed", turn, session_id)
        feed(LLMTurnFailed(session_id=session_id, turn=turn,
                           error=f"internal error while calling the model: {exc!r}"))
    finally:
        unbind_span(bound)
        attempt_ended(span)
