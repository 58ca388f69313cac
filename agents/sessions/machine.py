"""The session state machine: ``apply(state, event) -> (state, commands)``, no I/O.

Every input the loop reacts to is an event (the request, the model's turn
starting, each tool call it proposes, its turn ending, results, deadlines), and
every effect is a command for the runtime to carry out. Replaying a journal
through ``apply`` and dropping the commands rebuilds a session exactly;
``resume`` then says what to do to carry on. ``apply`` takes ownership of the
state it is given and returns the next one.

A turn advances when the model has finished it and each of its calls has
settled: a result, a local refusal (malformed arguments, unknown tool, bad
arguments: fed back to the model as an error), or a cancellation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from async_toolformer.schemas import (
    BranchDecision,
    DeadlineReached,
    LLMTurnCompleted,
    LLMTurnFailed,
    LLMTurnStarted,
    SessionCancelRequested,
    SessionCompleted,
    SessionEvent,
    SessionFailed,
    SessionStarted,
    SpeculativeCallRan,
    ToolCallDispatched,
    ToolCallProposed,
    ToolCallRequested,
    ToolResultReceived,
)

from ..providers import TurnRequest
from .catalogue import ToolCatalogue
from .commands import (
    ArmTimer,
    CallModel,
    CancelBranch,
    CancelSession,
    Close,
    Command,
    DispatchCall,
    Record,
    StopModel,
)
from .content import refused, settled_from_result
from .history import initial_messages, turn_messages
from .plan_mode import bind_step, has_refs, plan_messages, plan_turn_messages
from .scoring import Scorer, resolve_scorer
from .state import CallState, SessionState, Settled, TurnState
from .strategies import Verdict, keep_top_n_cuts, race_verdicts, top_n_discards
from .timings import session_timings, session_usage

__all__ = ["SessionMachine", "Step"]

Step = tuple[SessionState | None, list[Command]]


class SessionMachine:
    """Folds session events; ``catalogue`` checks proposed calls before they are dispatched."""

    def __init__(self, catalogue: ToolCatalogue, *,
                 scorer_for: Callable[[str], Scorer] = resolve_scorer,
                 default_deadline_s: float | None = None) -> None:
        """``default_deadline_s``: the deadline of a session that sets none, so a session
        whose model or tools never answer still ends (the worker's
        ``TOOLFORMER_SESSION_DEADLINE_S``)."""
        self._catalogue = catalogue
        self._scorer_for = scorer_for
        self._default_deadline_s = default_deadline_s

    def apply(self, state: SessionState | None, event: SessionEvent) -> Step:
        if isinstance(event, SessionStarted):
            return (state, []) if state is not None else self._start(event)
        if state is None:
            return None, []
        if isinstance(event, SessionCompleted | SessionFailed):
            state.closed = True  # written by someone else (an internal failure); idempotent
            return state, []
        if state.closed:
            return state, []
        return state, self._dispatch(state, event)

    def resume(self, state: SessionState) -> list[Command]:
        """What a worker that has just re-folded ``state`` must do to carry it on."""
        if state.closed:
            return []
        commands: list[Command] = []
        if state.deadline_at is not None:
            commands.append(ArmTimer(state.session_id, "session", None, state.deadline_at))
        turn = state.current
        if turn is not None:
            for call in turn.calls.values():
                if call.pending and call.request is not None:
                    commands += self._dispatch_commands(state, call.request)
        if state.next_turn is not None:
            commands.append(self._call_model(state, state.next_turn, 1))
        elif turn is not None and turn.completed is None:
            commands.append(self._call_model(state, turn.index, turn.attempt + 1))
        return commands

    # -- events ---------------------------------------------------------------

    def _dispatch(self, state: SessionState, event: SessionEvent) -> list[Command]:
        match event:
            case LLMTurnStarted():
                return self._turn_started(state, event)
            case ToolCallProposed():
                return self._proposed(state, event)
            case LLMTurnCompleted():
                return self._turn_completed(state, event)
            case ToolResultReceived():
                return self._result(state, event)
            case DeadlineReached():
                return self._deadline(state, event)
            case LLMTurnFailed():
                reason = "llm_auth" if event.auth else "llm_error"
                return self._fail(state, reason, event.error, event.at)
            case SpeculativeCallRan(used=True, saved_ms=saved):
                state.speculation_saved_ms += saved
                return []
            case SessionCancelRequested() if event.tenant != state.request.tenant:
                return []  # a stranger naming this session: not theirs to cancel
            case SessionCancelRequested():
                return [CancelSession(state.session_id, event.reason,
                                      tenant=state.request.tenant),
                        *self._fail(state, "cancelled", event.reason, event.at)]
            case _:
                return []  # decisions already taken (dispatches, branch decisions), markers

    def _start(self, event: SessionStarted) -> Step:
        state = SessionState(request=event, history=initial_messages(event))
        commands: list[Command] = []
        deadline = event.options.session_deadline_s
        if deadline is None:
            deadline = self._default_deadline_s
        if deadline is not None:
            state.deadline_at = event.started_at + timedelta(seconds=deadline)
            commands.append(ArmTimer(event.session_id, "session", None, state.deadline_at))
        commands.append(self._call_model(state, 0, 1))
        return state, commands

    def _turn_started(self, state: SessionState, event: LLMTurnStarted) -> list[Command]:
        if event.turn < len(state.turns):  # asked again by a resumed worker
            turn = state.turns[event.turn]
            if turn.completed is None:
                turn.attempt = event.attempt
        elif event.turn == len(state.turns) and state.next_turn == event.turn:
            state.turns.append(TurnState(event.turn, event.attempt, event.at))
            state.next_turn = None
        return []

    def _proposed(self, state: SessionState, event: ToolCallProposed) -> list[Command]:
        turn = state.current
        if turn is None or turn.index != event.turn or turn.completed is not None:
            return []
        if event.index in turn.calls:
            return []  # proposed again by a retried turn: already handled
        call = CallState(event.turn, event.index, event.llm_call_id, event.tool,
                         event.raw_arguments, arguments=event.arguments)
        turn.calls[event.index] = call
        problem = self._problem(state, event)
        if problem is not None:
            self._settle(state, call, refused(problem))
            return self._maybe_advance(state, event.at)
        assert event.arguments is not None
        options = state.request.options
        bound = bind_step(turn, event) if options.plan else (event.arguments, [])
        if isinstance(bound, str):  # uses a step that could not run
            self._settle(state, call, refused(bound))
            return self._maybe_advance(state, event.at)
        request = ToolCallRequested(
            call_id=f"{state.session_id}:{event.turn}:{event.index}",
            session_id=state.session_id, branch_id=f"t{event.turn}.c{event.index}",
            tool=event.tool, arguments=bound[0], depends_on=bound[1],
            timeout_s=options.call_deadline_s,
            tenant=state.request.tenant, requested_at=event.at,
            metadata={"llm_call_id": event.llm_call_id},
        )
        call.request = request
        call.dispatched_at = event.at
        state.call_index[request.call_id] = (event.turn, event.index)
        state.branch_index[request.branch_id] = request.call_id
        return [*self._dispatch_commands(state, request),
                Record(ToolCallDispatched(session_id=state.session_id, turn=event.turn,
                                          call_id=request.call_id, branch_id=request.branch_id,
                                          tool=event.tool, at=event.at))]

    def _problem(self, state: SessionState, event: ToolCallProposed) -> str | None:
        if event.error is not None or event.arguments is None:
            return f"the arguments of {event.tool!r} could not be read: {event.error}"
        allowed = state.request.tools
        if event.tool not in allowed or not self._catalogue.knows(event.tool):
            names = ", ".join(allowed) or "none"
            return f"there is no tool named {event.tool!r}; the tools available are: {names}"
        if state.request.options.plan and has_refs(event.arguments):
            return None  # the executor validates them once the references are resolved
        return self._catalogue.check(event.tool, event.arguments)

    def _turn_completed(self, state: SessionState, event: LLMTurnCompleted) -> list[Command]:
        turn = state.current
        if turn is None or turn.index != event.turn or turn.completed is not None:
            return []
        turn.completed = event
        state.prompt_tokens += event.usage.prompt_tokens
        state.completion_tokens += event.usage.completion_tokens
        state.llm_ms += event.llm_ms
        return self._maybe_advance(state, event.at)

    def _result(self, state: SessionState, event: ToolResultReceived) -> list[Command]:
        result = event.result
        call = state.call(result.call_id)
        if call is None or not call.pending:
            return []
        settled = settled_from_result(result)
        options = state.request.options
        if options.keep_top_n is not None:
            settled.score = self._scorer_for(options.scorer)(result)
            settled.acceptable = result.ok
        self._settle(state, call, settled)
        state.sequential_tool_ms += settled.run_ms
        turn = state.turns[call.turn]
        verdicts = race_verdicts(options, turn, call, result, self._scorer_for)
        verdicts += keep_top_n_cuts(options, turn)
        commands = self._carry_out(state, verdicts, event.at)
        return commands + self._maybe_advance(state, event.at)

    def _deadline(self, state: SessionState, event: DeadlineReached) -> list[Command]:
        if event.scope == "session":
            return self._finish(state, "deadline", event.at)
        call = state.call(state.branch_index.get(event.branch_id or "", ""))
        if call is None or not call.pending:
            return []
        seconds = state.request.options.branch_deadline_s
        verdict = Verdict(call, "cancelled", f"the branch deadline of {seconds}s passed")
        return self._carry_out(state, [verdict], event.at) + self._maybe_advance(state, event.at)

    # -- effects ----------------------------------------------------------------

    def _carry_out(self, state: SessionState, verdicts: list[Verdict],
                   at: datetime) -> list[Command]:
        commands: list[Command] = []
        for verdict in verdicts:
            call = verdict.call
            if call.call_id is None or call.branch_id is None:
                continue
            saved = 0.0
            if verdict.decision == "cancelled":
                if not call.pending:
                    continue
                saved = self._unspent_ms(state, call, at)
                state.saved_tool_ms += saved
                self._settle(state, call, Settled(f"cancelled: {verdict.reason}", True,
                                                  "cancelled"))
                commands.append(CancelBranch(state.session_id, call.branch_id, verdict.reason,
                                             tenant=state.request.tenant))
            commands.append(Record(BranchDecision(
                session_id=state.session_id, branch_id=call.branch_id, call_id=call.call_id,
                decision=verdict.decision, reason=verdict.reason, score=verdict.score,  # type: ignore[arg-type]
                saved_ms=round(saved, 3), at=at)))
        return commands

    def _unspent_ms(self, state: SessionState, call: CallState, at: datetime) -> float:
        budget_s = state.request.options.call_deadline_s or self._catalogue.budget_s(call.tool)
        elapsed_s = (at - call.dispatched_at).total_seconds() if call.dispatched_at else 0.0
        return max(0.0, (budget_s - elapsed_s) * 1000)

    def _settle(self, state: SessionState, call: CallState, settled: Settled) -> None:
        state.settle_counter += 1
        call.settled = settled
        call.settled_order = state.settle_counter

    def _maybe_advance(self, state: SessionState, at: datetime) -> list[Command]:
        turn = state.current
        if turn is None or turn.completed is None or not turn.all_settled():
            return []
        commands = self._discard_beyond_top_n(state, turn, at)
        if turn.calls:
            waited = (at - turn.completed.at).total_seconds() * 1000
            state.tool_wait_ms += max(0.0, waited)
        state.history += (plan_messages(turn) if state.request.options.plan
                          else turn_messages(turn))
        if not turn.calls:
            return commands + self._finish(state, "answer", at)
        if turn.index + 1 >= state.request.options.max_turns:
            return commands + self._finish(state, "max_turns", at)
        state.next_turn = turn.index + 1
        return [*commands, self._call_model(state, turn.index + 1, 1)]

    def _discard_beyond_top_n(self, state: SessionState, turn: TurnState,
                              at: datetime) -> list[Command]:
        verdicts = top_n_discards(state.request.options, turn)
        for verdict in verdicts:
            old = verdict.call.settled
            assert old is not None
            verdict.call.settled = Settled(f"discarded: {verdict.reason}", True, old.status,
                                           old.run_ms, old.score, old.acceptable)
        return self._carry_out(state, verdicts, at)

    def _finish(self, state: SessionState, stop_reason: str, at: datetime) -> list[Command]:
        commands = self._stop_work(state, f"the session ended ({stop_reason})")
        state.closed = True
        completed = next((t.completed for t in reversed(state.turns) if t.completed), None)
        event = SessionCompleted(
            session_id=state.session_id, answer=completed.text if completed else "",
            stop_reason=stop_reason,  # type: ignore[arg-type]
            turns=len(state.turns), calls=state.call_count(), usage=session_usage(state),
            timings=session_timings(state, at), at=at)
        return [*commands, Record(event), Close(state.session_id)]

    def _fail(self, state: SessionState, reason: str, error: str,
              at: datetime) -> list[Command]:
        commands = self._stop_work(state, f"the session failed ({reason})")
        state.closed = True
        event = SessionFailed(session_id=state.session_id, reason=reason,  # type: ignore[arg-type]
                              error=error, at=at)
        return [*commands, Record(event), Close(state.session_id)]

    def _stop_work(self, state: SessionState, reason: str) -> list[Command]:
        commands: list[Command] = [StopModel(state.session_id)]
        if any(call.pending and call.request is not None
               for turn in state.turns for call in turn.calls.values()):
            commands.append(CancelSession(state.session_id, reason,
                                          tenant=state.request.tenant))
        return commands

    def _dispatch_commands(self, state: SessionState,
                           request: ToolCallRequested) -> list[Command]:
        commands: list[Command] = [DispatchCall(request)]
        seconds = state.request.options.branch_deadline_s
        if seconds is not None:
            due = request.requested_at + timedelta(seconds=seconds)
            commands.append(ArmTimer(state.session_id, "branch", request.branch_id, due))
        return commands

    def _call_model(self, state: SessionState, turn: int, attempt: int) -> CallModel:
        options = state.request.options
        tools = self._catalogue.schemas(state.request.tools)
        messages = tuple(state.history)
        if options.plan:  # the tools are described in the plan prompt, not declared
            messages, tools = plan_turn_messages(messages, tools), ()
        request = TurnRequest(messages, tools,
                              max_tokens=options.max_tokens, temperature=options.temperature)
        return CallModel(state.session_id, turn, attempt, request, options,
                         tenant=state.request.tenant)
