"""Reading the six topics as records arrive, without a consumer group, into the console's state.

One consumer, all partitions of ``calls``, ``results``, ``cancellations``,
``sessions``, ``session-events`` and ``dlq``, from their end (or from a given
offset of every partition). Seeking to the end asks the broker for end
offsets, which lag on the embedded broker (docs/broker.md): then a few records
already written are read again, which the fold takes in its stride. It joins no
group and commits nothing, so it never takes partitions from the workers.

Topics are waited for, not created: the console may start before any worker.
A record that is not the event its topic carries is counted as skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import (
    BranchCancelled,
    DeadLetter,
    SchemaError,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
    decode,
    decode_as,
    decode_session_event,
)
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.console.state import ConsoleState

__all__ = ["FeedStats", "TopicFeed"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class FeedStats:
    """How reading goes, for the page's header."""

    state: str = "connecting"  # connecting, waiting for topics, reading, error
    records: int = 0
    skipped: int = 0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "records": self.records, "skipped": self.skipped,
                "error": self.error}


class TopicFeed:
    """Folds every record of the topics into ``state``; calls ``changed`` with what changed.

    ``changed(kind, payload)``: ``("session", session_id)``, ``("dead_letter", view)``
    or ``("feed", None)`` when the stats moved.
    """

    def __init__(self, bootstrap_servers: str, topics: TopicCatalogue, state: ConsoleState,
                 changed: Callable[[str, Any], None], *, start_offset: int | None = None,
                 security: KafkaSecurity = PLAINTEXT, retry_s: float = 2.0) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._state = state
        self._changed = changed
        self._start_offset = start_offset
        self._security = security
        self._retry_s = retry_s
        self.stats = FeedStats()

    async def run(self) -> None:
        """Read until cancelled; a lost broker is retried, never raised."""
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away, say: say so and try again
                error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                if self.stats.error != error:  # once, not at every retry
                    logger.warning("console feed: %s", error)
                self._set_state("error", error)
            await asyncio.sleep(self._retry_s)

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False,
            auto_offset_reset="latest", fetch_max_wait_ms=200,
            max_partition_fetch_bytes=2 * 1_048_576, **self._security.client_options())
        try:
            await consumer.start()
            partitions = await self._partitions(consumer)
            if not partitions:
                self._set_state("waiting for topics", "start a worker, or check the prefix")
                return  # a new consumer sees the topics once they are made
            consumer.assign(partitions)
            if self._start_offset is None:
                await consumer.seek_to_end(*partitions)
            else:
                for tp in partitions:
                    consumer.seek(tp, self._start_offset)
            self._set_state("reading", "")
            while True:
                fetched = await consumer.getmany(timeout_ms=500, max_records=2_000)
                for tp, records in fetched.items():
                    for record in records:
                        self._take(tp.topic, record.value or b"")
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Every partition of the six topics; none unless all six exist."""
        wanted = self._topics.all()
        present = await consumer.topics()  # listing does not create a missing topic
        if not all(topic in present for topic in wanted):
            return []
        return [TopicPartition(topic, p) for topic in wanted
                for p in sorted(consumer.partitions_for_topic(topic) or ())]

    def _take(self, topic: str, value: bytes) -> None:
        self.stats.records += 1
        try:
            event = self._decode(topic, value)
        except SchemaError:
            self.stats.skipped += 1
            return
        if isinstance(event, DeadLetter):
            self._changed("dead_letter", self._state.dead_letter(event))
            return
        session_id = self._state.apply(event)
        if session_id is not None:
            self._changed("session", session_id)

    def _decode(self, topic: str, value: bytes) -> object:
        topics = self._topics
        if topic == topics.calls:
            return decode_as(ToolCallRequested, value)
        if topic == topics.results:
            return decode_as(ToolCallCompleted, value)
        if topic == topics.dlq:
            return decode_as(DeadLetter, value)
        if topic == topics.cancellations:
            event = decode(value)
            if not isinstance(event, BranchCancelled | SessionCancelled):
                raise SchemaError(f"not a cancellation: {event.type}")
            return event
        return decode_session_event(value)

    def _set_state(self, state: str, error: str) -> None:
        if (self.stats.state, self.stats.error) != (state, error):
            self.stats.state, self.stats.error = state, error
            self._changed("feed", None)
