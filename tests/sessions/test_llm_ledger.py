"""LLM calls as calls: a session run again over the same ledger calls neither the model
nor its tools again, and answers the same."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest

from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import SessionCompleted
from async_toolformer.streams.client import SessionClient, SessionFailedError
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

from ..pipeline import tools_for_tests
from .conftest import TEST_TOOLS

pytestmark = pytest.mark.connected


async def test_a_session_run_again_is_answered_from_the_ledger(
        kafka_bootstrap: str, redis_url: str, fake_llm: FakeLLMServer, llm_env: None) -> None:
    namespace = f"llm-{uuid.uuid4().hex[:8]}"
    session_id = f"ledgered-{uuid.uuid4().hex[:8]}"
    first = await _run_once(kafka_bootstrap, redis_url, namespace, session_id)
    model_requests = len(fake_llm.requests)
    charged = tools_for_tests.executions["llm-ledger"]

    # The same session on fresh topics and a fresh worker, over the same ledger.
    again = await _run_once(kafka_bootstrap, redis_url, namespace, session_id)

    assert again.answer == first.answer == "charged once."
    assert len(fake_llm.requests) == model_requests  # the model was not called again
    assert tools_for_tests.executions["llm-ledger"] == charged == 1


async def _run_once(bootstrap: str, redis_url: str, namespace: str, session_id: str, *,
                    limits_file: Path | None = None) -> SessionCompleted:
    name = f"l{uuid.uuid4().hex[:10]}"
    settings = Settings(kafka_bootstrap_servers=bootstrap, redis_url=redis_url,
                        ledger_namespace=namespace, topic_prefix=f"{name}.",
                        group_id=f"{name}-workers", worker_id=f"{name}-w", partitions=4,
                        metrics_port=None, tools=[TEST_TOOLS], limits_file=limits_file,
                        gc_tuning=False)
    await ensure_topics(bootstrap, TopicCatalogue(settings.topic_prefix), partitions=4)
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    worker = asyncio.create_task(run_worker(settings, stop, registry=load_tools([TEST_TOOLS]),
                                            grace_s=1, on_started=ready.set_result,
                                            llm=LLMSettings()))  # as llm_env set it
    try:
        await asyncio.wait_for(ready, 60)
        async with SessionClient(bootstrap, topic_prefix=settings.topic_prefix) as client:
            return await client.run_session("pay once", tools=["charge", "sleep"],
                                             options={"model": "ledgered"},
                                             session_id=session_id, timeout_s=60)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)


LLM_LIMITS = """
namespace = "{namespace}"

[[limits]]
name = "llm-requests"
scope = "service"
match = "llm:openai:ledgered"
kind = "token_bucket"
rate = 1
per = "minute"
burst = 1
backpressure = "reject"
"""


async def test_model_calls_are_rate_limited_per_provider_and_model(
        kafka_bootstrap: str, redis_url: str, fake_llm: FakeLLMServer, llm_env: None,
        tmp_path: Path) -> None:
    namespace = f"llm-{uuid.uuid4().hex[:8]}"
    limits = tmp_path / "limits.toml"
    limits.write_text(LLM_LIMITS.format(namespace=namespace))
    with pytest.raises(SessionFailedError, match="not admitted"):
        # Two turns, one request a minute: the second turn is refused.
        await _run_once(kafka_bootstrap, redis_url, namespace, f"limited-{namespace}",
                        limits_file=limits)
