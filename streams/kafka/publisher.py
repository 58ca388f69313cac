"""Publishing events to Kafka and waiting for the broker's acknowledgement.

One producer per process, shared by every call in flight: ``send`` only appends
to a batch, so thousands of concurrent publishes cost one request per batch.
A failed delivery is retried with backoff rather than dropped: the caller's
offset stays uncommitted meanwhile, so nothing is lost if the worker dies too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from async_toolformer.streams.exceptions import ServiceUnavailableError

logger = logging.getLogger(__name__)


class KeyHashCache:
    """Kafka's default partitioner with each key's murmur2 hash remembered.

    Results are keyed by session id, so a worker hashes the same few keys over
    and over; aiokafka's murmur2 is pure Python and cost more per result than
    the rest of choosing where it goes.
    """

    def __init__(self, max_keys: int = 65_536) -> None:
        self._hashes: dict[bytes, int] = {}
        self._max_keys = max_keys

    def __call__(self, key: bytes | None, all_partitions: list[int],
                 available: list[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


class KafkaPublisher:
    """``await publish(topic, key, value)`` returns once the broker has the record."""

    def __init__(self, bootstrap_servers: str, *, linger_ms: int = 2,
                 client_id: str = "toolformer") -> None:
        self._servers = bootstrap_servers
        self._partitioner = KeyHashCache()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            partitioner=self._partitioner,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=1_048_576,
            request_timeout_ms=30_000,
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise ServiceUnavailableError(
                f"cannot reach Kafka at {self._servers} ({exc}). Start a broker there, point "
                "KAFKA_BOOTSTRAP_SERVERS at one, or run `toolformer dev` for a local one"
            ) from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> KafkaPublisher:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None:
        delay = 0.05
        while True:
            try:
                delivery = await self._producer.send(topic, value, key=key)
                await delivery
            except KafkaError as exc:
                logger.warning("publishing to %s failed (%s); retrying in %.2fs", topic, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                return

    async def publish_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]
                           ) -> None:
        """Publish ``records``; return once the broker has them all. Failures are retried.

        One batch per partition instead of one ``send`` (a coroutine and a future)
        per record; each record goes to the partition ``send`` would choose.
        """
        pending = list(records)
        delay = 0.05
        while pending:
            try:
                pending = await self._send_batches(topic, pending)
            except KafkaError as exc:
                logger.warning("publishing to %s failed (%s); retrying in %.2fs", topic, exc, delay)
            else:
                if not pending:
                    return
                logger.warning("%d records to %s were not delivered; retrying in %.2fs",
                               len(pending), topic, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _send_batches(self, topic: str, records: list[tuple[bytes | None, bytes]]
                            ) -> list[tuple[bytes | None, bytes]]:
        """Send ``records`` a batch per partition; return those the broker did not take."""
        producer = self._producer
        partitions = list(await producer.partitions_for(topic))  # as ``send`` lists them
        by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for record in records:
            partition = self._partitioner(record[0], partitions, partitions)
            by_partition.setdefault(partition, []).append(record)
        sent: list[tuple[asyncio.Future[Any], list[tuple[bytes | None, bytes]]]] = []
        for partition, group in by_partition.items():
            batch = producer.create_batch()
            members: list[tuple[bytes | None, bytes]] = []
            for key, value in group:
                # A batch is full once it holds max_batch_size (its first record always fits).
                if batch.append(key=key, value=value, timestamp=None) is None:
                    sent.append((await producer.send_batch(batch, topic, partition=partition),
                                 members))
                    batch, members = producer.create_batch(), []
                    batch.append(key=key, value=value, timestamp=None)
                members.append((key, value))
            if members:
                sent.append((await producer.send_batch(batch, topic, partition=partition),
                             members))
        failed: list[tuple[bytes | None, bytes]] = []
        for delivery, members in sent:
            try:
                await delivery
            except KafkaError as exc:
                logger.warning("a batch of %d records to %s failed: %s", len(members), topic, exc)
                failed.extend(members)
        return failed

    async def enqueue(self, topic: str, key: bytes | None, value: bytes,
                      partition: int | None = None) -> asyncio.Future[Any]:
        """Append without waiting for the broker; await the returned future for delivery."""
        delivery: asyncio.Future[Any] = await self._producer.send(
            topic, value, key=key, partition=partition)
        return delivery

    async def flush(self) -> None:
        await self._producer.flush()

    async def partitions_of(self, topic: str) -> set[int]:
        parts: set[int] = await self._producer.partitions_for(topic)
        return parts
