"""Re-folding a journal partition: read ``session-events`` partition p from the start to now.

"Now" is not the broker's end offset: the embedded broker reports it late after
a batch (BROKER-NOTES.md). The reader first writes a :class:`JournalMarker` to
the partition and reads until it meets that record, which is the end by
construction on any broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import JournalMarker, SchemaError, SessionEvent, encode

from ..publisher import KafkaPublisher
from .codec import decode_session_event

__all__ = ["KafkaJournalSource"]


class KafkaJournalSource:
    """A ``JournalSource`` over the ``session-events`` topic."""

    def __init__(self, bootstrap_servers: str, topic: str, publisher: KafkaPublisher,
                 worker_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._publisher = publisher
        self._worker_id = worker_id

    async def read(self, partition: int) -> Sequence[SessionEvent]:
        marker = JournalMarker(worker_id=self._worker_id, nonce=uuid.uuid4().hex)
        delivery = await self._publisher.enqueue(self._topic, None, encode(marker),
                                                 partition=partition)
        end = (await delivery).offset
        tp = TopicPartition(self._topic, partition)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=5, auto_offset_reset="earliest")
        await consumer.start()
        events: list[SessionEvent] = []
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            position = -1
            while position < end:
                batches = await consumer.getmany(tp, timeout_ms=200, max_records=5000)
                for record in batches.get(tp, []):
                    position = record.offset
                    if position >= end:
                        break
                    try:
                        events.append(decode_session_event(record.value or b""))
                    except SchemaError:
                        continue  # not ours to fold; the journal's writers are workers
        finally:
            await consumer.stop()
        return events
