"""A worker killed with ``kill -9`` in the middle of a session: another worker resumes it
from the journal and the session still ends in its answer."""

from __future__ import annotations

import uuid

import pytest

from async_toolformer.schemas import LLMTurnStarted, SessionCompleted, SessionEvent

from ..pipeline.processes import WorkerProcess
from .conftest import Stack

pytestmark = [pytest.mark.connected, pytest.mark.slow]


async def test_kill_9_mid_session_is_resumed_by_another_worker(bare_stack: Stack) -> None:
    stack = bare_stack
    env = {"TOOLFORMER_LLM_BASE_URL": stack.server.base_url, "OPENAI_API_KEY": "test-key"}
    first = WorkerProcess(stack.settings, "crash-first", extra_env=env)
    second = WorkerProcess(stack.settings, "crash-second", extra_env=env)
    prompt = f"restart {uuid.uuid4().hex[:8]}"
    events: list[SessionEvent] = []
    await first.start()
    try:
        async for event in stack.sessions.stream_session(prompt, tools=["sleep"],
                                                         options={"model": "restart"},
                                                         timeout_s=120):
            events.append(event)
            if isinstance(event, LLMTurnStarted) and event.turn == 1 and event.attempt == 1:
                first.kill()  # the model is thinking about turn 1 (2.5 s)
                await second.start()
    finally:
        first.kill()
        await second.stop()

    done = events[-1]
    assert isinstance(done, SessionCompleted)
    assert done.answer == "resumed and answered."
    assert done.calls == 2
