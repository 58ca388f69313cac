"""Driving a service through the broker and timing it, the same way for system and baseline.

The driver publishes pre-encoded records and reads the replies with orjson only,
so what is measured is the service under test, not the driver's own encoding.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity

ReplyId = Callable[[bytes], str]


def call_id_of(value: bytes) -> str:
    call_id: str = orjson.loads(value)["call_id"]
    return call_id


@dataclass
class Driver:
    """A producer to the service's input and a consumer of its output, from the end on."""

    bootstrap: str
    source: str
    target: str
    reply_id: ReplyId = call_id_of
    security: KafkaSecurity = PLAINTEXT
    _producer: AIOKafkaProducer | None = None
    _consumer: AIOKafkaConsumer | None = None
    _waiters: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=2,
                                          **self.security.client_options())
        self._consumer = AIOKafkaConsumer(self.target, bootstrap_servers=self.bootstrap,
                                          auto_offset_reset="latest", fetch_max_wait_ms=5,
                                          max_poll_records=5000,
                                          **self.security.client_options())
        await self._producer.start()
        await self._consumer.start()
        await self._consumer.seek_to_end()
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def round_trips_ms(self, records: Sequence[tuple[str, bytes, bytes]]) -> list[float]:
        """Send one record at a time, waiting for its reply; the latency of each, in ms."""
        latencies = []
        for reply, key, value in records:
            started = time.perf_counter()
            await self.burst([(reply, key, value)], timeout_s=30)
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    async def burst(self, records: Sequence[tuple[str, bytes, bytes]], *,
                    timeout_s: float) -> float:
        """Send all records at once; seconds until the last reply arrived."""
        assert self._producer is not None
        loop = asyncio.get_running_loop()
        futures = [self._waiters.setdefault(reply, loop.create_future())
                   for reply, _, _ in records]
        started = time.perf_counter()
        for _, key, value in records:
            await self._producer.send(self.source, value, key=key)
        await asyncio.wait_for(asyncio.gather(*futures), timeout_s)
        return max(f.result() for f in futures) - started

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    future = self._waiters.pop(self.reply_id(record.value or b"{}"), None)
                    if future is not None and not future.done():
                        future.set_result(now)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


async def spawn(module_args: Sequence[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", *module_args, env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far (Linux ``/proc``, 10 ms steps).

    Steadier than throughput on a shared machine: other load slows a service
    down but hardly changes the CPU each message costs it.
    """
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (Linux ``VmHWM``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
