"""No secret reaches the console's page, its event stream, or a worker's JSON logs.

A ``toolformer worker`` process and the console both get a Redis password in
``REDIS_URL`` and model API keys; calls run (one of them dead-lettered), the
page and the stream are read for a while, the worker logs at INFO in JSON.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.devtools.stack.redis_server import RedisProcessFactory
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.settings import Settings

from .harness import (
    dead_letters,
    last,
    latest_sessions,
    read_events,
    running_console,
    write_limits,
)

pytestmark = [pytest.mark.connected, pytest.mark.slow]

REDIS_PASSWORD = "rEdis-PaSS-4f1c9a"
OPENAI_KEY = "sk-openai-SECRET-8d2e"
ANTHROPIC_KEY = "sk-ant-SECRET-77b0"
SECRETS = (REDIS_PASSWORD, OPENAI_KEY, ANTHROPIC_KEY)


async def _redis_with_password(redis_process_factory: RedisProcessFactory) -> str:
    server = await redis_process_factory()
    client = Redis.from_url(server.url)
    try:
        await client.config_set("requirepass", REDIS_PASSWORD)
    finally:
        await client.aclose()
    return server.url.replace("redis://", f"redis://:{REDIS_PASSWORD}@")


async def _start_worker(settings: Settings, limits: Path, log: Path
                        ) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "REDIS_URL": settings.redis_url or "",
        "TOOLFORMER_TOPIC_PREFIX": settings.topic_prefix,
        "TOOLFORMER_GROUP_ID": settings.group_id,
        "TOOLFORMER_PARTITIONS": str(settings.partitions),
        "TOOLFORMER_WORKER_ID": "secret-test-worker",
        "TOOLFORMER_METRICS_PORT": "0",
        "TOOLFORMER_TOOLS": '["tests.pipeline.tools_for_tests", "tests.console.tools_for_console"]',
        "TOOLFORMER_LIMITS_FILE": str(limits),
        "TOOLFORMER_LOG_FORMAT": "json",
        "TOOLFORMER_LOG_LEVEL": "INFO",
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    }
    with log.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "async_toolformer.streams.cli", "worker", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=sink, start_new_session=True)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def test_neither_the_console_nor_the_json_logs_show_a_secret(
        kafka_bootstrap: str, redis_process_factory: RedisProcessFactory,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings.model_validate({
        "kafka_bootstrap_servers": kafka_bootstrap,
        "redis_url": await _redis_with_password(redis_process_factory),
        "topic_prefix": f"{name}.", "group_id": f"{name}-workers", "partitions": 2})
    limits = write_limits(tmp_path, f"{name}limits")
    await ensure_topics(kafka_bootstrap, TopicCatalogue(settings.topic_prefix), partitions=2)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)  # in the console's process too
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    log = tmp_path / "worker.log"
    worker = await _start_worker(settings, limits, log)
    try:
        async with running_console(settings, limits_file=limits) as console, \
                ToolformerClient(kafka_bootstrap, topic_prefix=settings.topic_prefix) as client:
            calls = [ToolCallRequested(call_id=f"sec-{i}", session_id="secrets", tool="chatty",
                                       arguments={"ms": 20}, tenant="acme") for i in range(3)]
            results = await client.run(calls, timeout_s=60)
            assert all(r.status is CallStatus.OK for r in results)
            await client.submit([ToolCallRequested(call_id="sec-bad", session_id="secrets",
                                                   tool="no_such_tool")])

            def seen_all(messages: list[tuple[str, Any]]) -> bool:
                session = latest_sessions(messages).get("secrets")
                limit = last(messages, "limits")
                return (session is not None and len(session["calls"]) == 4
                        and len(dead_letters(messages)) == 1
                        and bool(limit and limit.get("limits")))

            stream, messages = await read_events(console.url, seen_all, timeout_s=60)
            async with aiohttp.ClientSession() as http, http.get(console.url) as response:
                page = await response.text()
    finally:
        await _stop(worker)

    assert seen_all(messages), "the stream never showed the calls, the dead letter and limits"
    for secret in SECRETS:
        assert secret not in page
        assert secret not in stream

    lines = log.read_text().splitlines()
    logged = [orjson.loads(line) for line in lines if line.strip()]  # every line is JSON
    tool_lines = [line for line in logged if line["logger"] == "tests.console.tools"]
    assert {line["call_id"] for line in tool_lines} == {"sec-0", "sec-1", "sec-2"}
    assert all(line["session_id"] == "secrets" and line["tenant"] == "acme"
               and line["worker_id"] == "secret-test-worker" for line in tool_lines)
    assert any(line["message"].startswith("dead letter") for line in logged)
    text = log.read_text()
    for secret in SECRETS:
        assert secret not in text
