"""A worker, the client and the CLI run calls end to end over TLS with a client certificate.

The broker sits behind stunnel (see conftest.py), which requires a certificate
signed by the test CA: a plaintext client, one without a certificate and one
that does not trust the broker's CA are each refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import ToolCallRequested
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.exceptions import ServiceUnavailableError
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

from .conftest import TlsBroker, TlsFiles

pytestmark = pytest.mark.connected

TEST_TOOLS = "tests.pipeline.tools_for_tests"


def tls_env(broker: TlsBroker, files: TlsFiles) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CAFILE": str(files.ca), "KAFKA_SSL_CERTFILE": str(files.client_cert),
            "KAFKA_SSL_KEYFILE": str(files.client_key)}


@contextlib.asynccontextmanager
async def tls_worker(broker: TlsBroker, files: TlsFiles, **extra: object
                     ) -> AsyncIterator[Settings]:
    """A worker whose every Kafka client connects with the TLS settings."""
    name = f"tls{uuid.uuid4().hex[:8]}"
    settings = Settings.model_validate({
        **tls_env(broker, files), "topic_prefix": f"{name}.", "group_id": f"{name}-workers",
        "worker_id": f"{name}-w1", "partitions": 2, "metrics_port": None,
        "tools": [TEST_TOOLS], "gc_tuning": False, **extra})
    assert settings.kafka_bootstrap_servers is not None
    await ensure_topics(settings.kafka_bootstrap_servers, TopicCatalogue(settings.topic_prefix),
                        partitions=2, security=KafkaSecurity.from_settings(settings))
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_worker(settings, stop, registry=load_tools(settings.tools),
                                          grace_s=2, on_started=ready.set_result))
    await asyncio.wait_for(ready, 60)
    try:
        yield settings
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


async def _cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_toolformer.streams.cli", *args,
        env={**os.environ, **env, "COLUMNS": "400"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_worker_client_and_cli_run_calls_over_tls(tls_broker: TlsBroker,
                                                        tls_files: TlsFiles) -> None:
    async with tls_worker(tls_broker, tls_files) as settings:
        assert settings.kafka_bootstrap_servers is not None
        security = KafkaSecurity.from_settings(settings)
        async with ToolformerClient(settings.kafka_bootstrap_servers,
                                    topic_prefix=settings.topic_prefix,
                                    security=security) as client:
            [result] = await client.run([ToolCallRequested(
                call_id="tls-1", session_id="tls-s", tool="echo", arguments={"over": "tls"})],
                timeout_s=60)
        assert result.ok
        assert result.output == {"over": "tls"}

        env = {**tls_env(tls_broker, tls_files), "TOOLFORMER_TOPIC_PREFIX": settings.topic_prefix}
        code, out, err = await _cli(["publish", "--tool", "echo", "--args", '{"cli": 1}',
                                     "--session", "tls-cli", "--wait", "--json"], env)
        assert code == 0, err
        [published] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert published["status"] == "ok"
        assert published["output"] == {"cli": 1}

        code, out, err = await _cli(["results", "--session", "tls-s", "--json"], env)
        assert code == 0, err
        assert [json.loads(line)["call_id"] for line in out.splitlines()] == ["tls-1"]


@pytest.mark.parametrize("refused", ["plaintext", "no client certificate", "untrusted CA"])
async def test_a_client_the_terminator_does_not_accept_cannot_connect(
        tls_broker: TlsBroker, tls_files: TlsFiles, refused: str) -> None:
    security = {
        "plaintext": PLAINTEXT,
        "no client certificate": KafkaSecurity(protocol="SSL", cafile=tls_files.ca),
        "untrusted CA": KafkaSecurity(protocol="SSL", cafile=tls_files.other_ca,
                                      certfile=tls_files.client_cert,
                                      keyfile=tls_files.client_key),
    }[refused]
    publisher = KafkaPublisher(tls_broker.bootstrap, security=security)
    with pytest.raises(ServiceUnavailableError) as raised:
        await asyncio.wait_for(publisher.start(), 60)
    message = str(raised.value)
    if refused == "plaintext":
        assert f"cannot reach Kafka at {tls_broker.bootstrap}" in message
    else:  # the host answers: the message points at the TLS settings, not at the broker
        assert f"cannot connect to Kafka at {tls_broker.bootstrap} over SSL" in message
        assert "KAFKA_SSL_CAFILE" in message
