"""Secrets given to a worker and a session never show: not in logs, events, errors or --debug.

The secrets are real values, used for real where the services allow it: the
Redis password opens the TLS Redis's ACL user (read from a file, as Kubernetes
mounts it), the API key goes to the scripted model server. The embedded broker
has no SASL a client can log in to, so the SASL password is checked on the path
that does use it: a command whose SASL login fails, with ``--debug``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import SessionCompleted
from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

from ..sessions.script import SCRIPT
from .conftest import TlsFiles, TlsRedis

pytestmark = pytest.mark.connected

API_KEY = f"sk-test-{uuid.uuid4().hex}"
SASL_PASSWORD = f"sasl-{uuid.uuid4().hex}"


async def _every_record(bootstrap: str, topics: TopicCatalogue) -> list[bytes]:
    consumer = AIOKafkaConsumer(*topics.all(), bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[bytes] = []
    try:
        while batch := await consumer.getmany(timeout_ms=1500):
            found += [b"%s %s" % (r.key or b"", r.value or b"")
                      for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return found


async def test_a_worker_and_a_session_show_no_secret(
        kafka_bootstrap: str, tls_redis: TlsRedis, *, tls_files: TlsFiles, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password_file = tmp_path / "redis-password"
    password_file.write_text(tls_redis.password + "\n")
    name = f"sec{uuid.uuid4().hex[:8]}"
    async with FakeLLMServer(SCRIPT, api_key=API_KEY) as model:  # another key gets a 401
        for variable, value in {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "REDIS_URL": tls_redis.url,
            "REDIS_USERNAME": tls_redis.username, "REDIS_PASSWORD_FILE": str(password_file),
            "REDIS_SSL_CA_CERTS": str(tls_files.ca), "OPENAI_API_KEY": API_KEY,
            "TOOLFORMER_LLM_BASE_URL": model.base_url, "TOOLFORMER_TOPIC_PREFIX": f"{name}.",
            "TOOLFORMER_GROUP_ID": f"{name}-workers", "TOOLFORMER_PARTITIONS": "2",
            "TOOLFORMER_METRICS_PORT": "off", "TOOLFORMER_GC_TUNING": "false",
        }.items():
            monkeypatch.setenv(variable, value)
        settings, llm = Settings(), LLMSettings()
        assert settings.redis_password is not None
        assert settings.redis_password.get_secret_value() == tls_redis.password
        topics = TopicCatalogue(settings.topic_prefix)
        await ensure_topics(kafka_bootstrap, topics, partitions=2)
        stop = asyncio.Event()
        ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_worker(
            settings, stop, registry=load_tools(["tests.pipeline.tools_for_tests"]), grace_s=1,
            on_started=ready.set_result, llm=llm))
        try:
            await asyncio.wait_for(ready, 60)  # its ledger on the ACL user's TLS Redis
            async with SessionClient(kafka_bootstrap, topic_prefix=topics.prefix) as client:
                done = await client.run_session(f"two turns ({uuid.uuid4().hex[:8]})",
                                                tools=["sleep", "echo"],
                                                options={"model": "two_turns"}, timeout_s=60)
            assert isinstance(done, SessionCompleted)  # so the model server had the key
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
        records = await _every_record(kafka_bootstrap, topics)

    secrets = (tls_redis.password, API_KEY)
    shown = [caplog.text, *(r.getMessage() for r in caplog.records), repr(settings), str(settings),
             settings.model_dump_json(), repr(llm), llm.model_dump_json()]
    assert len(caplog.records) > 10
    assert records
    for secret in secrets:
        assert not [text for text in shown if secret in text]
        assert not [record for record in records if secret.encode() in record]


def test_errors_and_debug_output_show_no_secret(kafka_bootstrap: str) -> None:
    """A failed SASL login to the broker and a Redis URL with a password, with --debug."""
    redis_password = f"url-{uuid.uuid4().hex}"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "KAFKA_SASL_USERNAME": "alice", "KAFKA_SASL_PASSWORD": SASL_PASSWORD,
           "OPENAI_API_KEY": API_KEY, "REDIS_URL": f"redis://:{redis_password}@127.0.0.1:1/0",
           "TOOLFORMER_METRICS_PORT": "off", "COLUMNS": "400"}
    for args in (["--debug", "publish", "--tool", "echo", "--wait", "--timeout", "5"],
                 ["publish", "--tool", "echo"], ["--debug", "worker"], ["worker"]):
        done = subprocess.run([sys.executable, "-m", "async_toolformer.streams.cli", *args],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        for secret in (SASL_PASSWORD, API_KEY, redis_password):
            assert secret not in output, f"{args}: {output[-2000:]}"
