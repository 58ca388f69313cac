"""Plan mode: the model writes a plan of calls as text, and the plan runs as a graph.

The runtime reads the turn's text as it streams (:class:`PlanReader`): each
complete step line is proposed at once, so its call starts while the model is
still writing the rest of the plan. The machine turns a step's references to
earlier steps into ``$ref`` objects naming their calls and ``depends_on``
(:func:`bind_step`): the executor starts each call once its inputs are in, so
the model is not asked again until every step has its result. Then it sees the
results as text (:func:`plan_messages`) and answers, or writes a new plan.
A bad line, or a step using a step that could not run, is refused here and
told to the model with its result; it never leaves the session waiting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from async_toolformer.schemas import ToolCallProposed

from ..plans import PlanError, PlanStream, find_refs, plan_prompt
from ..plans.paths import render_path
from ..plans.refs import PATH_KEY, REF_KEY, Ref, map_refs
from ..plans.text import PlanLine, PlanStep
from ..providers import (
    AssistantMessage,
    Message,
    ProviderEvent,
    SystemMessage,
    TextDelta,
    TurnFinished,
    UserMessage,
)
from .state import CallState, TurnState

__all__ = ["PlanReader", "bind_step", "has_refs", "plan_messages", "plan_turn_messages"]

_STEP_CALL_PREFIX = "plan_"
_NATIVE_OFFSET = 1_000  # indexes of tool calls a model makes natively in plan mode


class PlanReader:
    """Turns the streamed text of one plan-mode turn into proposed calls."""

    def __init__(self, session_id: str, turn: int) -> None:
        self._session_id = session_id
        self._turn = turn
        self._stream = PlanStream()

    def read(self, event: ProviderEvent) -> list[ToolCallProposed]:
        """The steps ``event`` completes: text completes lines, the turn's end the last."""
        if isinstance(event, TextDelta):
            return self.feed(event.text)
        if isinstance(event, TurnFinished):
            return self.finish()
        return []

    def feed(self, text: str) -> list[ToolCallProposed]:
        return [self._proposed(line) for line in self._stream.feed(text)]

    def finish(self) -> list[ToolCallProposed]:
        return [self._proposed(line) for line in self._stream.finish()]

    @staticmethod
    def native_index(index: int) -> int:
        """Where a native tool call of a plan-mode turn goes among the turn's calls."""
        return _NATIVE_OFFSET + index

    def _proposed(self, line: PlanLine) -> ToolCallProposed:
        step = "?" if line.step_id is None else str(line.step_id)
        if isinstance(line, PlanStep):
            tool, arguments, error = line.tool, line.arguments, None
        else:
            tool, arguments, error = "plan", None, f"plan line {line.line!r}: {line.error}"
        return ToolCallProposed(
            session_id=self._session_id, turn=self._turn, index=line.index,
            llm_call_id=f"{_STEP_CALL_PREFIX}{step}", raw_arguments=line.line, tool=tool,
            arguments=arguments, error=error)


def bind_step(turn: TurnState, event: ToolCallProposed
              ) -> tuple[dict[str, Any], list[str]] | str:
    """A plan step's arguments with its references naming calls, and the calls it depends
    on; or why it cannot run (a reference to a step that was refused or is unknown)."""
    assert event.arguments is not None
    by_step = {call.llm_call_id: call for call in turn.calls.values()}
    depends_on: list[str] = []

    def to_call(ref: Ref) -> dict[str, Any]:
        input_call = by_step.get(_STEP_CALL_PREFIX + ref.call_id.removeprefix("$"))
        if input_call is None or input_call.request is None:
            raise PlanError(_not_run(ref.call_id, input_call))
        call_id = input_call.request.call_id
        if call_id not in depends_on:
            depends_on.append(call_id)
        value: dict[str, Any] = {REF_KEY: call_id}
        if ref.path:
            value[PATH_KEY] = render_path(ref.path)
        return value

    try:
        find_refs(event.arguments)
        arguments = map_refs(event.arguments, to_call)
    except PlanError as exc:
        return f"plan step {event.llm_call_id.removeprefix(_STEP_CALL_PREFIX)}: {exc}"
    assert isinstance(arguments, dict)
    return arguments, depends_on


def has_refs(arguments: Mapping[str, Any] | None) -> bool:
    try:
        return bool(arguments) and bool(find_refs(arguments))
    except PlanError:
        return True  # bind_step says what is wrong


def _not_run(step: str, call: CallState | None) -> str:
    if call is None:
        return f"{step} is not a step of this plan"
    why = call.settled.content if call.settled is not None else "it was not dispatched"
    return f"it uses {step}, which did not run ({why[:300]})"


def plan_turn_messages(history: Sequence[Message], tools: Sequence[Mapping[str, Any]]
                       ) -> tuple[Message, ...]:
    """The conversation of a plan-mode turn: the plan prompt first, then the history."""
    return (SystemMessage(plan_prompt(tools)), *history)


def plan_messages(turn: TurnState) -> list[Message]:
    """A settled plan-mode turn as the model sees it next: its text, then each step's
    result as text (no native tool messages: no tools were declared)."""
    assert turn.completed is not None
    lines = []
    for index in sorted(turn.calls):
        call = turn.calls[index]
        step = call.llm_call_id.removeprefix(_STEP_CALL_PREFIX)
        settled = call.settled
        outcome = "no result" if settled is None else (
            f"{'error' if settled.is_error else 'ok'}: {settled.content}")
        lines.append(f"${step} = {call.tool}: {outcome}")
    messages: list[Message] = [AssistantMessage(turn.completed.text)]
    if lines:
        messages.append(UserMessage("Results of your plan:\n" + "\n".join(lines)))
    return messages
