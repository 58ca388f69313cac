"""A call the executor refuses at intake answers its session at once, with the ledger on.

A session takes a result only if the ledger holds it under the fingerprint of its
own request; a refusal published unrecorded would leave it waiting for its
deadline. Here, on a real broker and Redis with a scripted model, the executor
refuses a call whose arguments are over its limits, and one for a tool its
registry lacks (a worker a version behind the one that ran the session's checks):
each refusal is fed back to the model, whose next turn ends the session, well
before the session's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from async_toolformer.agents.tools import ToolRegistry, load_tools
from async_toolformer.schemas import (
    CallStatus,
    DeadlineReached,
    SessionCompleted,
    SessionEvent,
    SessionStarted,
    ToolResultReceived,
    encode,
)
from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

pytestmark = pytest.mark.connected

TEST_TOOLS = "tests.pipeline.tools_for_tests"
MAX_ITEMS = 10
DEADLINE_S = 40.0  # a session left waiting fails the test here, not the suite's timeout
SKEWED_TOOL = "nap"  # the session's worker knows it; the executor's registry does not

SCRIPT: dict[str, Any] = {
    "defaults": {"latency_ms": 5, "token_delay_ms": 1, "chunk_chars": 16},
    "conversations": {
        "too_many_items": {"turns": [
            {"tool_calls": [{"name": "echo", "arguments": {"items": list(range(50))}}]},
            {"text": "saw the refusal."},
        ]},
        "skewed_tool": {"turns": [
            {"tool_calls": [{"name": SKEWED_TOOL, "arguments": {"ms": 1}}]},
            {"text": "saw the refusal."},
        ]},
    },
}


@pytest.fixture(scope="module")
def llm_env(fake_llm: FakeLLMServer) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLFORMER_LLM_BASE_URL", fake_llm.base_url)
        patch.setenv("OPENAI_API_KEY", "test-key")
        patch.setenv("TOOLFORMER_LLM_MAX_RETRIES", "1")
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(SCRIPT) as server:
        yield server


class Stack:
    def __init__(self, settings: Settings, bootstrap: str, publisher: KafkaPublisher) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.topics = TopicCatalogue(settings.topic_prefix)
        self.publisher = publisher

    async def start(self, request: SessionStarted) -> None:
        assert await self.publisher.publish(self.topics.sessions, request.session_id.encode(),
                                            encode(request))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(kafka_bootstrap: str, redis_url: str, llm_env: None) -> AsyncIterator[Stack]:
    """One worker with the ledger, a low bound on argument values, and an executor whose
    registry lacks ``SKEWED_TOOL``."""
    name = f"ref{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url,
                        ledger_namespace=name, topic_prefix=f"{name}.",
                        group_id=f"{name}-workers", worker_id=f"{name}-w", partitions=2,
                        metrics_port=None, tools=[TEST_TOOLS], gc_tuning=False,
                        max_argument_items=MAX_ITEMS)
    await ensure_topics(kafka_bootstrap, TopicCatalogue(settings.topic_prefix), partitions=2)
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    tools = load_tools([TEST_TOOLS])
    worker = asyncio.create_task(run_worker(settings, stop, registry=tools, grace_s=1,
                                            on_started=ready.set_result, llm=LLMSettings()))
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    try:
        running = await asyncio.wait_for(ready, 60)
        behind = ToolRegistry()
        for spec in tools:
            if spec.name != SKEWED_TOOL:
                behind.add(spec)
        running.agent.registry = behind  # the sessions keep checking against ``tools``
        yield Stack(settings, kafka_bootstrap, publisher)
    finally:
        await publisher.stop()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)


async def _session(stack: Stack, request: SessionStarted) -> list[SessionEvent]:
    events: list[SessionEvent] = []
    async with SessionClient(stack.bootstrap,
                             topic_prefix=stack.settings.topic_prefix) as client:
        async for event in client.follow(
                request.session_id, timeout_s=DEADLINE_S + 20,
                before=lambda: stack.start(request)):
            events.append(event)
    return events


@pytest.mark.parametrize("case", [
    ("too_many_items", "echo", "invalid_arguments", f"more than {MAX_ITEMS}"),
    ("skewed_tool", SKEWED_TOOL, "unknown_tool", SKEWED_TOOL),
], ids=["invalid_arguments", "unknown_tool"])
async def test_a_call_refused_at_intake_is_fed_back_to_the_model(
        stack: Stack, fake_llm: FakeLLMServer, case: tuple[str, str, str, str]) -> None:
    model, tool, reason, why = case
    session = f"{model}-{uuid.uuid4().hex[:8]}"
    request = SessionStarted(session_id=session, prompt="call it", tools=(tool,),
                             options={"model": model,  # type: ignore[arg-type]
                                      "session_deadline_s": DEADLINE_S})
    events = await _session(stack, request)
    assert not any(isinstance(e, DeadlineReached) for e in events), events[-3:]
    [received] = [e for e in events if isinstance(e, ToolResultReceived)]
    assert received.result.status is CallStatus.REJECTED
    assert received.result.error is not None
    assert received.result.error.type == reason
    assert why in received.result.error.message
    end = events[-1]
    assert isinstance(end, SessionCompleted), end
    assert end.stop_reason == "answer"
    assert end.answer == "saw the refusal."
    bodies = [json.dumps(r.body) for r in fake_llm.requests if r.conversation == model]
    assert len(bodies) == 2  # the second turn carried the refusal to the model
    assert reason in bodies[1]
