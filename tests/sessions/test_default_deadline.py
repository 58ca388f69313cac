"""A session that sets no deadline still ends: the worker's ``session_deadline_s`` applies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from async_toolformer.agents.sessions import RegistryCatalogue, SessionMachine
from async_toolformer.agents.sessions.commands import ArmTimer
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import (
    DeadlineReached,
    SessionCompleted,
    SessionOptions,
    SessionStarted,
)
from async_toolformer.streams.worker.settings import Settings

from .conftest import Stack

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _started(**options: object) -> SessionStarted:
    return SessionStarted(session_id="s", prompt="p", tools=("sleep",), started_at=T0,
                          options=SessionOptions.model_validate(options))


def test_the_worker_default_is_fifteen_minutes() -> None:
    assert Settings().session_deadline_s == 900.0


def test_the_machine_arms_the_default_only_where_a_session_sets_none() -> None:
    machine = SessionMachine(RegistryCatalogue(load_tools([])), default_deadline_s=900)
    _, commands = machine.apply(None, _started())
    [timer] = [c for c in commands if isinstance(c, ArmTimer)]
    assert (timer.due_at - T0).total_seconds() == 900
    _, commands = machine.apply(None, _started(session_deadline_s=5))
    [timer] = [c for c in commands if isinstance(c, ArmTimer)]
    assert (timer.due_at - T0).total_seconds() == 5


@pytest.mark.connected
async def test_a_session_without_a_deadline_ends_at_the_worker_default(
        bare_stack: Stack) -> None:
    stack = bare_stack
    stack.settings = stack.settings.model_copy(update={"session_deadline_s": 1.0})
    await stack.start_worker(f"{stack.settings.worker_id}-deadline")
    session = f"nodeadline-{uuid.uuid4().hex[:8]}"

    # the "deadline" script calls a tool that sleeps 5 s, then would answer
    events = [event async for event in stack.sessions.stream_session(
        session, session_id=session, tools=["sleep"], options={"model": "deadline"},
        timeout_s=60)]

    assert any(isinstance(e, DeadlineReached) and e.scope == "session" for e in events)
    done = events[-1]
    assert isinstance(done, SessionCompleted)
    assert done.stop_reason == "deadline"
    assert done.turns == 1
