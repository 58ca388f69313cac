"""Publishing events to Kafka and waiting for the broker's acknowledgement.

One producer per process, shared by every call in flight: ``send`` only appends
to a batch, so thousands of concurrent publishes cost one request per batch.
A failed delivery is retried with backoff rather than dropped: the caller's
offset stays uncommitted meanwhile, so nothing is lost if the worker dies too.

Except when the record itself is what the broker (or the producer) refuses: too
large, corrupt, a bad timestamp. Sending it again can only fail again, and a
loop here would hold the caller's partition for good, so such a refusal is
final: logged, counted (``refused``, ``on_refused``) and reported to the caller
as ``False`` (``publish``) or in the list of refused records (``publish_many``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2

from async_toolformer.streams.exceptions import ServiceUnavailableError
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity

__all__ = ["RECORD_REFUSALS", "KafkaPublisher", "KeyHashCache"]

logger = logging.getLogger(__name__)

RECORD_REFUSALS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError,
    CorruptRecordException, InvalidMessageError, InvalidTimestampError,
    UnsupportedForMessageFormatError)
"""Errors about the record itself: sending it again cannot succeed."""

Record = tuple[bytes | None, bytes]
Headers = list[tuple[str, bytes]]
HeadedRecord = tuple[bytes | None, bytes, Headers | None]


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
                 client_id: str = "toolformer", max_request_size: int = 1_048_576,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._servers = bootstrap_servers
        self._security = security
        self._partitioner = KeyHashCache()
        self.max_request_size = max_request_size
        self.refused = 0  # records refused for good, since start
        self.on_refused: Callable[[str], None] | None = None  # told the topic of each
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            partitioner=self._partitioner,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=1_048_576,
            max_request_size=max_request_size,
            request_timeout_ms=30_000,
            **security.client_options(),
        )

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise ServiceUnavailableError(
                _unreachable(self._servers, exc, security=self._security)) from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> KafkaPublisher:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def publish(self, topic: str, key: bytes | None, value: bytes, *,
                      headers: Headers | None = None) -> bool:
        """Publish one record; True once the broker has it, False if it was refused for good."""
        delay = 0.05
        while True:
            try:
                delivery = await self._producer.send(topic, value, key=key, headers=headers)
                await delivery
            except RECORD_REFUSALS as exc:
                self._refuse(topic, len(value), exc)
                return False
            except KafkaError as exc:
                logger.warning("publishing to %s failed (%s); retrying in %.2fs", topic, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                return True

    async def publish_headed(self, topic: str, key: bytes | None, value: bytes,
                             headers: Headers | None) -> bool:
        """``publish`` with record headers (trace context)."""
        return await self.publish(topic, key, value, headers=headers)

    async def publish_many_headed(self, topic: str, records: Sequence[HeadedRecord]
                                  ) -> list[Record]:
        """``publish_many`` of (key, value, headers) records; returns the refused (key, value)."""
        return await self.publish_many(topic, records)  # type: ignore[arg-type]

    async def publish_many(self, topic: str, records: Sequence[Record]) -> list[Record]:
        """Publish ``records``; return once the broker has them all, or refused some for good.

        One batch per partition instead of one ``send`` (a coroutine and a future)
        per record; each record goes to the partition ``send`` would choose. A
        batch refused as a whole is sent again record by record, so one record
        the broker will never take does not hold back the others. Returns the
        records refused for good (usually none); other failures are retried.
        """
        pending = list(records)
        refused: list[Record] = []
        delay = 0.05
        while pending:
            try:
                pending, alone = await self._send_batches(topic, pending)
            except KafkaError as exc:
                logger.warning("publishing to %s failed (%s); retrying in %.2fs", topic, exc, delay)
            else:
                for record in alone:
                    key, value = record[0], record[1]
                    if not await self.publish(topic, key, value, headers=_headers_of(record)):
                        refused.append((key, value))
                if not pending:
                    return refused
                logger.warning("%d records to %s were not delivered; retrying in %.2fs",
                               len(pending), topic, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        return refused

    async def _send_batches(self, topic: str, records: list[Record]
                            ) -> tuple[list[Record], list[Record]]:
        """Send ``records`` a batch per partition.

        Returns those to send again as they are (the broker did not answer) and
        those of batches the broker refused, to send one at a time.
        """
        producer = self._producer
        partitions = list(await producer.partitions_for(topic))  # as ``send`` lists them
        by_partition: dict[int, list[Record]] = {}
        for record in records:
            partition = self._partitioner(record[0], partitions, partitions)
            by_partition.setdefault(partition, []).append(record)
        sent: list[tuple[asyncio.Future[Any], list[Record]]] = []
        for partition, group in by_partition.items():
            batch = producer.create_batch()
            members: list[Record] = []
            for record in group:
                key, value, headers = record[0], record[1], _headers_of(record)
                # A batch is full once it holds max_batch_size (its first record always fits).
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    sent.append((await producer.send_batch(batch, topic, partition=partition),
                                 members))
                    batch, members = producer.create_batch(), []
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
                members.append(record)
            if members:
                sent.append((await producer.send_batch(batch, topic, partition=partition),
                             members))
        failed: list[Record] = []
        alone: list[Record] = []
        for delivery, members in sent:
            try:
                await delivery
            except RECORD_REFUSALS as exc:
                logger.warning("a batch of %d records to %s was refused (%s); sending them "
                               "one at a time", len(members), topic, exc)
                alone.extend(members)
            except KafkaError as exc:
                logger.warning("a batch of %d records to %s failed: %s", len(members), topic, exc)
                failed.extend(members)
        return failed, alone

    def _refuse(self, topic: str, size: int, exc: KafkaError) -> None:
        self.refused += 1
        logger.error("the broker refused a record of %d bytes for %s for good, so it is not "
                     "sent again: %r", size, topic, exc)
        if self.on_refused is not None:
            self.on_refused(topic)

    async def enqueue(self, topic: str, key: bytes | None, value: bytes,
                      partition: int | None = None, *,
                      headers: Headers | None = None) -> asyncio.Future[Any]:
        """Append without waiting for the broker; await the returned future for delivery."""
        delivery: asyncio.Future[Any] = await self._producer.send(
            topic, value, key=key, partition=partition, headers=headers)
        return delivery

    async def flush(self) -> None:
        await self._producer.flush()

    async def partitions_of(self, topic: str) -> set[int]:
        parts: set[int] = await self._producer.partitions_for(topic)
        return parts


def _headers_of(record: Record | HeadedRecord) -> Headers | None:
    """The headers of a (key, value[, headers]) record: trace context, when traced."""
    return record[2] if len(record) == 3 else None


def _unreachable(servers: str, exc: Exception, *, security: KafkaSecurity) -> str:
    """Why a client could not start: with TLS or SASL, the handshake is as likely as the host."""
    if security.uses_tls or security.uses_sasl:
        return (f"cannot connect to Kafka at {servers} over {security.describe()} ({exc!r}). "
                "If the broker is up, check the TLS CA and certificates "
                "(KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE), the SASL mechanism and "
                "credentials (KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD), and "
                "that the port serves that protocol")
    return (f"cannot reach Kafka at {servers} ({exc}). Start a broker there, point "
            "KAFKA_BOOTSTRAP_SERVERS at one, or run `toolformer dev` for a local one")
