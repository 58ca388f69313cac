"""The embedded Tansu broker: starts, speaks Kafka, and never outlives us."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from async_toolformer.streams.devtools.stack.broker import EmbeddedBroker
from async_toolformer.streams.devtools.stack.exceptions import BrokerStartError
from async_toolformer.streams.devtools.stack.ports import LOOPBACK
from async_toolformer.streams.devtools.stack.probes import kafka_answers
from tests.conftest import TopicFactory

from ._pids import pid_alive

pytestmark = pytest.mark.connected


async def test_broker_answers_kafka_and_stop_leaves_no_process() -> None:
    broker = EmbeddedBroker()
    await broker.start()
    pid = broker.pid
    assert pid is not None
    assert await kafka_answers(broker.bootstrap_servers)
    await broker.stop()
    assert not pid_alive(pid)
    assert not await kafka_answers(f"{LOOPBACK}:{broker.port}", timeout_s=1.0)
    await broker.stop()  # twice is fine


async def test_bootstrap_servers_before_start_says_what_to_do() -> None:
    with pytest.raises(BrokerStartError, match="start"):
        _ = EmbeddedBroker().bootstrap_servers


async def test_port_taken_fails_with_broker_output() -> None:
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, 0))
        squatter.listen()
        broker = EmbeddedBroker(squatter.getsockname()[1], ready_timeout_s=10)
        with pytest.raises(BrokerStartError, match=r"(?s)exited with status.*in use"):
            await broker.start()
    assert broker.pid is None


async def test_produce_consume_round_trip(kafka_bootstrap: str, unique_prefix: str,
                                          topic_factory: TopicFactory) -> None:
    topic = await topic_factory(2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=f"{unique_prefix}g",
        auto_offset_reset="earliest", fetch_max_wait_ms=5,
    )
    await producer.start()
    await consumer.start()
    try:
        sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(20)}
        for key, value in sent.items():
            await producer.send(topic, value, key=key)
        await producer.flush()
        received: dict[bytes, bytes] = {}
        async with asyncio.timeout(30):
            while len(received) < len(sent):
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    received.update({r.key: r.value for r in records if r.key and r.value})
        assert received == sent
    finally:
        await consumer.stop()
        await producer.stop()


def _run_owner(script: str) -> tuple[subprocess.Popen[str], int]:
    """Run ``script`` in a child interpreter that starts a broker and prints its pid."""
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE, text=True,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.strip().isdigit(), f"owner printed {line!r}"
    return owner, int(line)


_START_AND_PRINT = """
    import asyncio, sys
    from async_toolformer.streams.devtools.stack.broker import EmbeddedBroker
    async def main():
        broker = EmbeddedBroker()
        await broker.start()
        print(broker.pid, flush=True)
        {tail}
    asyncio.run(main())
"""


async def _wait_gone(pid: int, within_s: float = 10.0) -> bool:
    """True once ``pid`` is gone; on failure the orphan is killed so it does not linger."""
    step_s = 0.05
    for _ in range(int(within_s / step_s)):
        if not pid_alive(pid):
            return True
        await asyncio.sleep(step_s)
    os.kill(pid, signal.SIGKILL)
    return False


async def test_broker_is_killed_when_interpreter_exits_without_stop() -> None:
    owner, pid = _run_owner(_START_AND_PRINT.format(tail="return  # no stop()"))
    assert owner.wait(timeout=30) == 0
    assert await _wait_gone(pid)


async def test_broker_dies_with_a_sigkilled_parent() -> None:
    owner, pid = _run_owner(_START_AND_PRINT.format(tail="await asyncio.sleep(60)"))
    assert pid_alive(pid)
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait(timeout=10)
    assert await _wait_gone(pid)
