"""The Faust app factory, with the consumer's fetch wait and hand-off made cheap.

Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500`` for the worker's
consumer; a broker that answers a fetch only at that deadline then adds up to
1.5 s to every call (docs/broker.md, docs/faust.md). The subclasses below take that number
from settings, and hand each fetched batch to the agents' channels with one
race against a flow suspension per batch instead of one per record (Faust
starts four futures for every record to do that race, which was the largest
single cost of a call in the worker).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from async_toolformer.streams.worker.settings import Settings

_YIELD_EVERY = 100  # records handed over between two turns given to the rest of the loop
_TAP_CHUNK = 256  # records of one topic handed to its tap at once


class _FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast(ToolformerApp, self.app).fetch_max_wait_ms
        return consumer


class _FetchWaitConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, racing flow suspension (a rebalance) once per fetched batch."""
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                # The fetch itself is never raced: records fetched and then dropped
                # would be skipped by the consumer's position and later committed
                # as a gap, which is how calls were lost when both were raced.
                batch = await self._fetch(1.0)
                await self.sleep(0)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()  # not raced either: a cut commit forgets its offsets
                if batch and not self.should_stop:
                    await self.wait_first(self._deliver(batch), self.suspend_flow.wait())
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _fetch(self, wait_s: float) -> list[tuple[Any, Any]]:
        """Faust's ``getmany`` as one list, its checks made once per fetch.

        ``getmany`` is an async generator that checks the flow, the generation
        and the partition's high-water mark for every record; nothing can change
        them between two records of one fetch, so once per partition will do.
        """
        records, active = await self._wait_next_records(wait_s)
        if records is None or self.should_stop:
            return []
        if not self.flow_active:
            try:
                await self.perform_seek()  # as getmany does: back to the committed offsets
            except Exception as exc:  # logged and left to the next fetch, as Faust does
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return []
        buffered = self._buffered_partitions
        track_end_offset = self.app.monitor.track_tp_end_offset
        to_message = self._to_message
        app = cast(ToolformerApp, self.app)
        batch: list[tuple[Any, Any]] = []
        for tp, fetched in records.items():
            if active is not None and tp not in active and tp not in buffered:
                continue
            track_end_offset(tp, self.highwater(tp))
            if tp.topic in app.record_taps or tp.topic in app.record_gates:
                batch.extend((tp, FetchedRecord(tp, record)) for record in fetched)
            else:
                batch.extend((tp, to_message(tp, record)) for record in fetched)
        return batch

    async def _deliver(self, batch: list[tuple[Any, Any]]) -> None:
        """Pass each new record of ``batch`` to Faust's conductor, or in chunks to its tap.

        A record counts as read (``_read_offset``) only once it was handed over:
        a delivery cut short by a rebalance leaves the rest to be read again.
        Records a gate refuses are acked together at the end, cut short or not.
        """
        refused: list[Any] = []
        try:
            await self._deliver_each(batch, refused)
        finally:
            self.ack_many(refused)

    async def _deliver_each(self, batch: list[tuple[Any, Any]], refused: list[Any]) -> None:
        callback = self.callback
        read_offsets = self._read_offset
        gates = cast(ToolformerApp, self.app).record_gates
        taps = cast(ToolformerApp, self.app).record_taps
        latest: dict[Any, int] = {}
        chunks: dict[str, list[tuple[Any, Any]]] = {}
        since_yield = 0
        for tp, message in batch:
            since_yield += 1
            if since_yield > _YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            read = latest.get(tp, read_offsets[tp])
            if read is not None and offset < read:
                continue  # already delivered: a fetch overlapping the previous one
            if read and offset - read > 1 and self.app.topics.acks_enabled_for(message.topic):
                await self._add_gap(tp, read + 1, offset)
            latest[tp] = offset
            if message.topic in taps:
                chunk = chunks.setdefault(message.topic, [])
                chunk.append((tp, message))
                if len(chunk) >= _TAP_CHUNK:
                    await self._hand_to_tap(taps[message.topic], chunks.pop(message.topic))
                continue
            gate = gates.get(message.topic)
            if gate is None:
                await callback(message)
            elif gate(message):
                await callback(self._to_message(tp, message.record))
            else:
                refused.append(message)
            read_offsets[tp] = offset
        for topic, chunk in chunks.items():
            await self._hand_to_tap(taps[topic], chunk)

    def ack_many(self, records: list[Any]) -> None:
        """Faust's ``ack`` for many fetched records of tapped or gated topics, in one step.

        The same bookkeeping, under one lock instead of one each, and without
        looking a record up among the messages Faust's streams track: these
        records never were.
        """
        if not records:
            return
        committed_offsets = self._committed_offset
        acked, acked_index = self._acked, self._acked_index
        acking: dict[str, bool] = {}
        with ack_lock:
            for record in records:
                if record.acked:
                    continue
                record.acked = True
                topic = record.topic
                enabled = acking.get(topic)
                if enabled is None:
                    enabled = acking[topic] = self.app.topics.acks_enabled_for(topic)
                if not enabled:
                    continue
                tp, offset = record.tp, record.offset
                committed = committed_offsets[tp]
                if (committed is None or offset >= committed) and offset not in acked_index[tp]:
                    acked_index[tp].add(offset)
                    acked[tp].append(offset)
                    self._n_acked += 1
            notify(self._waiting_for_ack)

    async def _hand_to_tap(self, tap: RecordTap, chunk: list[tuple[Any, Any]]) -> None:
        await tap([message for _, message in chunk])
        read_offsets = self._read_offset
        for tp, message in chunk:
            read_offsets[tp] = message.offset


class FetchedRecord:
    """A fetched record of a tapped or gated topic, as its tap, gate and ``ack`` read it.

    Faust's ``ConsumerMessage`` costs about 2 µs a record to build, and every call
    brings two records (the call and, for the session agent, its result); a
    record that a gate lets through still becomes one.
    """

    __slots__ = ("__weakref__", "acked", "key", "offset", "partition", "record", "topic",
                 "tp", "value")

    def __init__(self, tp: Any, record: Any) -> None:
        self.tp = tp
        self.record = record
        self.topic: str = record.topic
        self.partition: int = record.partition
        self.offset: int = record.offset
        self.key: bytes | None = record.key
        self.value: bytes | None = record.value
        self.acked = False  # set by Faust's ``Consumer.ack``


class _FetchWaitTransport(faust_aiokafka.Transport):
    Consumer = _FetchWaitConsumer


RecordGate = Callable[[Any], bool]
RecordTap = Callable[[list[Any]], Awaitable[None]]


class ToolformerApp(faust.App):
    """A Faust app whose worker consumer waits ``fetch_max_wait_ms`` for data.

    Two shortcuts past Faust's per-record stream events, which cost about 100 µs
    of CPU per record where fetching it costs about 13:

    - ``record_gates`` maps a topic to a test of each fetched record: a record it
      refuses is acked at once instead of becoming a stream event (the session
      agent refuses the many results that no session on this worker waits for);
    - ``tap`` gives the records of a topic to a coroutine, a fetch's worth (or
      a chunk of it) at a time, in partition order; it acks each with
      :meth:`ack` when done. Faust still owns the group, assignment, flow
      control and commits; the hot ``calls`` topic uses this.
    """

    fetch_max_wait_ms: int = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record_gates: dict[str, RecordGate] = {}
        self.record_taps: dict[str, RecordTap] = {}

    def tap(self, topic: str, handler: RecordTap) -> None:
        """Subscribe ``topic`` and hand its records to ``handler``, many at a time."""
        self.topics.add(self.topic(topic, key_serializer="raw", value_serializer="raw"))
        self.record_taps[topic] = handler

    def ack(self, records: list[Any]) -> None:
        """Mark tapped records done; Faust commits up to the first record not done."""
        cast(_FetchWaitConsumer, self.consumer).ack_many(records)

    def _new_transport(self) -> Any:
        return _FetchWaitTransport(self.conf.broker_consumer, self)


def create_app(settings: Settings, bootstrap_servers: str) -> ToolformerApp:
    """A Faust app for one worker of the ``settings.group_id`` consumer group."""
    brokers = [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")]
    app = ToolformerApp(
        settings.group_id,
        broker=brokers,
        web_enabled=False,
        broker_client_id=f"toolformer-{settings.worker_id}",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=settings.max_poll_records,
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        stream_buffer_maxsize=4096,
        # Do not hold a rebalance until every running call is acked: a tool may run
        # for minutes. Its partition's new owner waits on the execution ledger instead.
        stream_wait_empty=False,
        producer_linger_ms=2,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    return app
