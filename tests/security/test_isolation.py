"""Tenants against each other, on a real broker and Redis: a worker with a ledger and a
tenant policy, a scripted model server, and producers that reuse, forge and cancel what
belongs to another tenant.

- Another tenant's call_id is answered ``Conflict`` to the requester, never with the
  owner's output, and nothing reaches the owner's session.
- A forged result for a session's predictable call id never reaches its model (the
  model server's request log is the witness).
- A stranger's cancellation (another tenant) stops nothing.
- A call or a session outside the tenant's policy is ``forbidden``, with a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer

from async_toolformer.agents.executor.identity import CONFLICT
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import (
    CallStatus,
    CallTimings,
    DeadLetter,
    SessionCancelled,
    SessionCancelRequested,
    SessionCompleted,
    SessionEvent,
    SessionFailed,
    SessionStarted,
    ToolCallCompleted,
    ToolCallDispatched,
    ToolCallRequested,
    decode_as,
    encode,
)
from async_toolformer.streams.client import SessionClient, ToolformerClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

pytestmark = pytest.mark.connected

TEST_TOOLS = "tests.pipeline.tools_for_tests"

SCRIPT: dict[str, Any] = {
    "defaults": {"latency_ms": 5, "token_delay_ms": 1, "chunk_chars": 16},
    "conversations": {
        "slow_call": {"turns": [
            {"tool_calls": [{"name": "sleep", "arguments": {"ms": 1500}}]},
            {"text": "done after the call."},
        ]},
        "allowed": {"turns": [{"text": "hello."}]},
    },
}

POLICY = """
[tenants.acme]
tools = ["*"]
providers = ["*"]
models = ["*"]

[tenants.globex]
tools = ["*"]
providers = ["*"]
models = ["*"]

[tenants.limited]
tools = ["echo"]
providers = ["openai"]
models = ["allowed"]
max_tokens = 100
"""


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

    async def publish(self, topic: str, key: str, event: Any) -> None:
        assert await self.publisher.publish(topic, key.encode(), encode(event))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(kafka_bootstrap: str, redis_url: str, llm_env: None,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One worker with the ledger and a tenant policy, on fresh topics."""
    name = f"iso{uuid.uuid4().hex[:8]}"
    policy = tmp_path_factory.mktemp("policy") / "policy.toml"
    policy.write_text(POLICY)
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url,
                        ledger_namespace=name, topic_prefix=f"{name}.",
                        group_id=f"{name}-workers", worker_id=f"{name}-w", partitions=2,
                        metrics_port=None, tools=[TEST_TOOLS], gc_tuning=False,
                        policy_file=Path(policy))
    await ensure_topics(kafka_bootstrap, TopicCatalogue(settings.topic_prefix), partitions=2)
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    worker = asyncio.create_task(run_worker(settings, stop, registry=load_tools([TEST_TOOLS]),
                                            grace_s=1, on_started=ready.set_result,
                                            llm=LLMSettings()))
    publisher = KafkaPublisher(kafka_bootstrap)
    await publisher.start()
    try:
        await asyncio.wait_for(ready, 60)
        yield Stack(settings, kafka_bootstrap, publisher)
    finally:
        await publisher.stop()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)


def _call(call_id: str, session: str, tenant: str, tool: str = "echo",
          **arguments: Any) -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id, session_id=session, tool=tool,
                             arguments=arguments, tenant=tenant)


async def _results_of(stack: Stack, session: str) -> list[ToolCallCompleted]:
    async with ToolformerClient(stack.bootstrap,
                                topic_prefix=stack.settings.topic_prefix) as client:
        return [result async for result in client.follow(session, follow=False, idle_s=1.5)]


async def _dead_letters(stack: Stack, call_id: str, *, timeout_s: float = 20) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(stack.topics.dlq,
                                bootstrap_servers=stack.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        async with asyncio.timeout(timeout_s):
            while not found:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    letters = [decode_as(DeadLetter, r.value or b"") for r in records]
                    found += [letter for letter in letters if letter.call_id == call_id]
    finally:
        await consumer.stop()
    return found


async def _session(stack: Stack, request: SessionStarted, *,
                   while_open: Any = None) -> list[SessionEvent]:
    """Start ``request`` and return its journal up to its end; ``while_open(events)`` runs
    once its first tool call is dispatched."""
    events: list[SessionEvent] = []
    async with SessionClient(stack.bootstrap,
                             topic_prefix=stack.settings.topic_prefix) as client:
        async for event in client.follow(
                request.session_id, timeout_s=60,
                before=lambda: stack.publish(stack.topics.sessions, request.session_id,
                                             request)):
            events.append(event)
            if isinstance(event, ToolCallDispatched) and while_open is not None:
                await while_open(event)
    return events


def _end(events: list[SessionEvent]) -> SessionCompleted | SessionFailed:
    end = events[-1]
    assert isinstance(end, SessionCompleted | SessionFailed)
    return end


async def test_another_tenants_call_id_is_a_conflict_and_never_its_output(
        stack: Stack) -> None:
    call_id = f"shared-{uuid.uuid4().hex[:8]}"
    owner_session, thief_session = f"a-{call_id}", f"b-{call_id}"
    async with ToolformerClient(stack.bootstrap,
                                topic_prefix=stack.settings.topic_prefix) as client:
        [owned] = await client.run([_call(call_id, owner_session, "acme", secret="acme-only")])
        assert owned.status is CallStatus.OK
        assert owned.output == {"secret": "acme-only"}
        # Another tenant, the same call_id: once in a session of its own, once naming the
        # owner's session (to have the answer published where the owner reads).
        [stolen] = await client.run([_call(call_id, thief_session, "globex", secret="x")])
    async with ToolformerClient(stack.bootstrap,
                                topic_prefix=stack.settings.topic_prefix) as client:
        await client.submit([_call(call_id, owner_session, "globex", secret="x")])
    assert stolen.status is CallStatus.REJECTED
    assert stolen.error is not None
    assert stolen.error.type == CONFLICT
    assert stolen.output is None
    assert stolen.session_id == thief_session
    thief_saw = await _results_of(stack, thief_session)
    assert [r.status for r in thief_saw] == [CallStatus.REJECTED]
    assert all("acme-only" not in json.dumps(r.model_dump(mode="json")) for r in thief_saw)
    # The owner's session has its own result only: the impostor's conflict shares the
    # call_id, and the client (deduplicating by call_id) keeps the first.
    owner_saw = await _results_of(stack, owner_session)
    assert owner_saw[0].output == {"secret": "acme-only"}


async def test_a_forged_result_never_reaches_the_sessions_model(
        stack: Stack, fake_llm: FakeLLMServer) -> None:
    session = f"forged-{uuid.uuid4().hex[:8]}"
    request = SessionStarted(session_id=session, prompt="call and wait", tools=("sleep",),
                             options={"model": "slow_call"}, tenant="acme")  # type: ignore[arg-type]

    async def forge(dispatched: ToolCallDispatched) -> None:
        now = datetime.now(UTC)
        forged = ToolCallCompleted(
            call_id=dispatched.call_id, session_id=session, tool="sleep",
            status=CallStatus.OK, output={"slept_ms": "FORGED-BY-A-STRANGER"},
            worker_id="not-a-worker",
            timings=CallTimings(requested_at=now, received_at=now, finished_at=now,
                                queue_ms=0, run_ms=0))
        await stack.publish(stack.topics.results, session, forged)

    events = await _session(stack, request, while_open=forge)
    end = _end(events)
    assert isinstance(end, SessionCompleted), end
    assert end.answer == "done after the call."
    bodies = [json.dumps(r.body) for r in fake_llm.requests if r.conversation == "slow_call"]
    assert len(bodies) >= 2  # the model saw the call's result in its second turn
    assert not any("FORGED" in body for body in bodies)
    assert any('slept_ms' in body for body in bodies[1:])


async def test_a_strangers_cancellation_does_not_cancel(stack: Stack) -> None:
    session = f"cancel-{uuid.uuid4().hex[:8]}"
    request = SessionStarted(session_id=session, prompt="call and wait", tools=("sleep",),
                             options={"model": "slow_call"}, tenant="acme")  # type: ignore[arg-type]

    async def cancel_as_stranger(_: ToolCallDispatched) -> None:
        await stack.publish(stack.topics.cancellations, session,
                            SessionCancelled(session_id=session, tenant="globex"))
        await stack.publish(stack.topics.sessions, session,
                            SessionCancelRequested(session_id=session, tenant="globex"))

    events = await _session(stack, request, while_open=cancel_as_stranger)
    end = _end(events)
    assert isinstance(end, SessionCompleted), end
    assert end.answer == "done after the call."
    assert not any(isinstance(e, SessionCancelRequested) for e in events)  # not journaled

    # The same for a plain call: the owner's cancellation stops it, a stranger's does not.
    async with ToolformerClient(stack.bootstrap,
                                topic_prefix=stack.settings.topic_prefix) as client:
        plain = f"plain-{uuid.uuid4().hex[:8]}"
        running = asyncio.create_task(client.run([_call(
            f"{plain}:1", plain, "acme", tool="sleep", ms=1500)]))
        await asyncio.sleep(0.5)
        await stack.publish(stack.topics.cancellations, plain,
                            SessionCancelled(session_id=plain, tenant="globex"))
        [result] = await running
        assert result.status is CallStatus.OK
        running = asyncio.create_task(client.run([_call(
            f"{plain}:2", plain, "acme", tool="sleep", ms=3000)]))
        await asyncio.sleep(0.5)
        await stack.publish(stack.topics.cancellations, plain,
                            SessionCancelled(session_id=plain, tenant="acme"))
        [result] = await running
        assert result.status is CallStatus.CANCELLED


async def test_a_call_outside_the_tenants_policy_is_forbidden(stack: Stack) -> None:
    call_id = f"forbidden-{uuid.uuid4().hex[:8]}"
    async with ToolformerClient(stack.bootstrap,
                                topic_prefix=stack.settings.topic_prefix) as client:
        [refused, allowed, stranger] = await client.run([
            _call(call_id, "s-limited", "limited", tool="sleep", ms=1),
            _call(f"{call_id}-ok", "s-limited", "limited", x=1),
            _call(f"{call_id}-who", "s-limited", "nobody", x=1),
        ])
    assert refused.status is CallStatus.REJECTED
    assert refused.error is not None
    assert refused.error.type == "forbidden"
    assert "may not call 'sleep'" in refused.error.message
    assert allowed.status is CallStatus.OK
    assert stranger.error is not None
    assert stranger.error.type == "forbidden"
    [letter] = await _dead_letters(stack, call_id)
    assert letter.reason.value == "forbidden"
    assert "may not call 'sleep'" in letter.error


@pytest.mark.parametrize(("options", "why"), [
    ({"model": "slow_call"}, "may not use model 'slow_call'"),
    ({"model": "allowed", "max_tokens": 101}, "options.max_tokens 101 is over"),
])
async def test_a_session_outside_the_tenants_policy_is_forbidden(
        stack: Stack, fake_llm: FakeLLMServer, options: dict[str, Any], why: str) -> None:
    before = len(fake_llm.requests)
    session = f"limited-{uuid.uuid4().hex[:8]}"
    request = SessionStarted(session_id=session, prompt="hi", tools=("echo",),
                             options=options, tenant="limited")  # type: ignore[arg-type]
    end = _end(await _session(stack, request))
    assert isinstance(end, SessionFailed)
    assert end.reason == "forbidden"
    assert why in end.error
    assert len(fake_llm.requests) == before  # no model was asked


async def test_a_session_inside_the_policy_runs_with_its_ceiling(
        stack: Stack, fake_llm: FakeLLMServer) -> None:
    session = f"limited-{uuid.uuid4().hex[:8]}"
    request = SessionStarted(session_id=session, prompt="hi", tools=("echo",),
                             options={"model": "allowed"}, tenant="limited")  # type: ignore[arg-type]
    end = _end(await _session(stack, request))
    assert isinstance(end, SessionCompleted), end
    [served] = [r for r in fake_llm.requests if r.conversation == "allowed"][-1:]
    assert served.body.get("max_tokens", served.body.get("max_completion_tokens")) == 100
