"""Speculation end to end: the real broker and Redis, a worker, the scripted model.

The same sessions run on a worker with speculation off and on a worker with it on
(each on topics, a ledger and a cache of its own). Each session looks a document
up, then, after the model thinks, fetches the document the lookup named: a
transition the predictor learns after a few sessions, so later sessions find
their fetch already run. A last session edits the document between its lookup
and its fetch: the fetch run early (before the edit) must not answer it. What the
sessions see must not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import (
    SessionCompleted,
    SessionEvent,
    SpeculativeCallRan,
    ToolResultReceived,
)
from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.ops.session_reader import read_session
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

pytestmark = pytest.mark.connected

SESSIONS = 7  # the predictor proposes a transition once it has seen it 3 times
TOOLS = ToolRegistry()
FETCHES: list[str] = []
EDITS: dict[str, str] = {}  # a document's text once edited


@tool(registry=TOOLS, read_only=True, idempotent=True, cache_ttl_s=300)
async def find_doc(topic: str) -> dict[str, Any]:
    """Which document covers ``topic``."""
    return {"topic": topic, "doc": f"doc-{topic}"}


@tool(registry=TOOLS, read_only=True, idempotent=True, cache_ttl_s=300)
async def read_doc(doc: str) -> dict[str, Any]:
    """A slow read of one document."""
    FETCHES.append(doc)
    await asyncio.sleep(0.3)
    return {"doc": doc, "text": EDITS.get(doc, f"the text of {doc}")}


@tool(registry=TOOLS, idempotent=True)
async def edit_doc(doc: str, text: str) -> str:
    """Writes what ``read_doc`` reads."""
    EDITS[doc] = text
    return "edited"


def _script(run: str) -> dict[str, Any]:
    conversations = {}
    for i in range(SESSIONS):
        topic = f"{run}-t{i}"
        conversations[f"c{i}"] = {"turns": [
            {"tool_calls": [{"name": "find_doc", "arguments": {"topic": topic}}]},
            {"latency_ms": 600,  # the model thinks; speculation runs meanwhile
             "tool_calls": [{"name": "read_doc", "arguments": {"doc": f"doc-{topic}"}}]},
            {"text": f"answer {i}"},
        ]}
    edited = f"doc-{run}-edited"
    conversations["edit"] = {"turns": [
        {"tool_calls": [{"name": "find_doc", "arguments": {"topic": f"{run}-edited"}}]},
        {"latency_ms": 600,  # the learned fetch runs early meanwhile, before the edit
         "tool_calls": [{"name": "edit_doc", "arguments": {"doc": edited, "text": "new"}}]},
        {"tool_calls": [{"name": "read_doc", "arguments": {"doc": edited}}]},
        {"text": "answer edited"},
    ]}
    return {"defaults": {"latency_ms": 5, "token_delay_ms": 1, "chunk_chars": 32},
            "conversations": conversations}


@pytest_asyncio.fixture(loop_scope="session")
async def fake_llm() -> AsyncIterator[tuple[FakeLLMServer, str]]:
    run = uuid.uuid4().hex[:6]
    async with FakeLLMServer(_script(run)) as server:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TOOLFORMER_LLM_BASE_URL", server.base_url)
            patch.setenv("OPENAI_API_KEY", "test-key")
            yield server, run


async def _sessions(kafka_bootstrap: str, redis_url: str, *, speculation: bool
                    ) -> tuple[list[list[SessionEvent]], Settings]:
    """Run the scripted sessions one after another on a worker of their own."""
    name = f"sp{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url,
                        topic_prefix=f"{name}.", group_id=f"{name}-workers",
                        worker_id=f"{name}-w1", partitions=2, metrics_port=None,
                        gc_tuning=False, ledger_namespace=name, speculation=speculation)
    await ensure_topics(kafka_bootstrap, TopicCatalogue(settings.topic_prefix), partitions=2)
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    worker = asyncio.create_task(run_worker(settings, stop, registry=TOOLS, grace_s=1,
                                            on_started=ready.set_result, llm=LLMSettings()))
    found: list[list[SessionEvent]] = []
    try:
        await asyncio.wait_for(ready, 60)
        async with SessionClient(kafka_bootstrap, topic_prefix=settings.topic_prefix) as client:
            for model in [f"c{i}" for i in range(SESSIONS)] + ["edit"]:
                found.append([event async for event in client.stream_session(
                    f"session {model} ({uuid.uuid4().hex[:6]})",
                    tools=["find_doc", "read_doc", "edit_doc"],
                    options={"model": model, "provider": "openai"}, timeout_s=60)])
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)
    return found, settings


def _seen(events: list[SessionEvent]) -> tuple[str, list[tuple[str, str, Any]]]:
    """What the session saw: its answer, and each result's tool, status and output."""
    done = events[-1]
    assert isinstance(done, SessionCompleted), done
    results = sorted((e.result.tool, e.result.status.value, e.result.output)
                     for e in events if isinstance(e, ToolResultReceived))
    return done.answer, results


async def test_sessions_see_the_same_results_with_speculation_on_and_off(
        kafka_bootstrap: str, redis_url: str, fake_llm: tuple[FakeLLMServer, str]) -> None:
    EDITS.clear()
    off, _ = await _sessions(kafka_bootstrap, redis_url, speculation=False)
    FETCHES.clear()
    EDITS.clear()
    on, settings = await _sessions(kafka_bootstrap, redis_url, speculation=True)

    assert [_seen(events) for events in on] == [_seen(events) for events in off]
    assert all(not isinstance(e, SpeculativeCallRan) for events in off for e in events)
    assert all(_done(events).timings.speculation_saved_ms == 0 for events in off)

    used = [[e for e in events if isinstance(e, SpeculativeCallRan) and e.used]
            for events in on]
    helped = [i for i, runs in enumerate(used) if runs]
    assert helped, "no session used a speculative run"
    assert helped[0] >= 3  # learned from the sessions before, not guessed
    for i in helped:
        [ran] = used[i]
        assert ran.tool == "read_doc"
        assert ran.status == "ok"
        assert ran.saved_ms > 0
        assert _done(on[i]).timings.speculation_saved_ms == pytest.approx(ran.saved_ms,
                                                                          abs=0.01)
        fetched = [e.result for e in on[i] if isinstance(e, ToolResultReceived)
                   and e.result.tool == "read_doc"]
        assert [r.cached for r in fetched] == [True]  # answered by the early run
    edited = [doc for doc in FETCHES if doc.endswith("-edited")]
    kept = [doc for doc in FETCHES if not doc.endswith("-edited")]
    assert sorted(kept) == sorted(set(kept))  # no document was read twice
    assert len(edited) == 2  # the edited one: early, then again after the edit
    assert _seen(on[-1])[1][-1][2]["text"] == "new"

    session_id = next(e.session_id for e in on[helped[0]] if isinstance(e, SessionCompleted))
    timeline = await read_session(kafka_bootstrap, TopicCatalogue(settings.topic_prefix),
                                  session_id)
    [early] = timeline.speculative
    assert early.tool == "read_doc"
    assert early.used_by is not None
    assert early.used_by in {span.call_id for span in timeline.spans}


def _done(events: list[SessionEvent]) -> SessionCompleted:
    done = events[-1]
    assert isinstance(done, SessionCompleted), done
    return done
