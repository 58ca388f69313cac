"""Re-folding a journal partition: read ``session-events`` partition p from the start to now.

"Now" is not the broker's end offset: the embedded broker reports it late after
a batch (docs/broker.md). The reader first writes a :class:`JournalMarker` to
the partition and reads until it meets that record, which is the end by
construction on any broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import (
    JournalMarker,
    SchemaError,
    SessionEvent,
    decode_session_event,
    encode,
)
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity

__all__ = ["KafkaJournalSource"]


class KafkaJournalSource:
    """A ``JournalSource`` over the ``session-events`` topic."""

    def __init__(self, bootstrap_servers: str, topic: str, publisher: KafkaPublisher,
                 worker_id: str, *, security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap_servers
        self._security = security
        self._topic = topic
        self._publisher = publisher
        self._worker_id = worker_id

    async def read(self, partition: int) -> Sequence[SessionEvent]:
        return (await self.read_many({partition}))[partition]

    async def read_many(self, partitions: set[int]) -> dict[int, Sequence[SessionEvent]]:
        """Several partitions with one consumer (a worker gains them together)."""
        ends: dict[TopicPartition, int] = {}
        for partition in sorted(partitions):
            marker = JournalMarker(worker_id=self._worker_id, nonce=uuid.uuid4().hex)
            delivery = await self._publisher.enqueue(self._topic, None, encode(marker),
                                                     partition=partition)
            ends[TopicPartition(self._topic, partition)] = (await delivery).offset
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=5, auto_offset_reset="earliest",
                                    **self._security.client_options())
        await consumer.start()
        events: dict[TopicPartition, list[SessionEvent]] = {tp: [] for tp in ends}
        try:
            consumer.assign(list(ends))
            await consumer.seek_to_beginning(*ends)
            open_tps = set(ends)
            while open_tps:
                batches = await consumer.getmany(*open_tps, timeout_ms=200, max_records=5000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= ends[tp]:
                            open_tps.discard(tp)
                            break
                        try:
                            events[tp].append(decode_session_event(record.value or b""))
                        except SchemaError:
                            continue  # not ours to fold; the journal's writers are workers
        finally:
            await consumer.stop()
        return {tp.partition: found for tp, found in events.items()}
