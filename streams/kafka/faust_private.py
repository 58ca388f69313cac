"""Every use of faust-streaming's and mode's private internals, and the version they are for.

The worker's tap (records of ``calls`` handed over a fetch at a time), its
gates (records refused before they become stream events), its cheap ``ack``
and its short fetch wait all work below Faust's public API (docs/faust.md).
They are written against faust-streaming ``PINNED_FAUST_VERSION`` only, and
:func:`require_pinned_faust` refuses to run the worker on any other.

What is used, why, and what breaks if Faust changes it:

- ``App._new_transport``: returns our transport, whose ``Consumer`` is ours.
  Renamed, the override is silently skipped: no tap, gate or fetch wait.
- ``drivers.aiokafka.Consumer._new_consumer_thread`` and
  ``AIOKafkaConsumerThread._create_worker_consumer``: the hooks that build
  the aiokafka consumer; aiokafka's ``AIOKafkaConsumer._fetch_max_wait_ms``
  is then set before it starts, replacing Faust's hard-coded 1500 ms.
  Renamed: every call waits up to 1.5 s again (nothing fails).
- ``Consumer._drain_messages``: Faust's fetch loop, replaced by ours (one
  race against ``suspend_flow`` per fetch, not per record). Renamed: Faust's
  loop runs and taps never see a record (calls are never answered).
- ``Consumer._wait_next_records``, ``_to_message``, ``_buffered_partitions``:
  the body of Faust's ``getmany``, done once per fetch. Changed signature:
  the fetch loop raises and the worker's consumer stops.
- ``Consumer._read_offset`` (last offset handed over, per partition) and
  ``_add_gap`` (offsets missing from the log, counted as acked): read
  positions and holes. Changed meaning: records delivered twice, or a
  partition whose commits stop at a hole.
- ``Consumer._acked``, ``_acked_index``, ``_committed_offset``, ``_n_acked``,
  ``_commit_every``, ``_waiting_for_ack``, ``faust.types.tuples.ack_lock``
  and ``mode.utils.futures.notify``: the bookkeeping ``Consumer.ack`` does,
  done for many records under one lock. Changed: acks get lost (commits stop)
  or, worse, commit past records not done.
- ``faust.transport.consumer.CONSUMER_FETCHING`` and mode's
  ``Service._stopped``: the flag and the stop test of Faust's loop.
- Faust-internal but unprefixed members of ``Consumer`` the loop uses as
  Faust's does: ``callback``, ``diag``, ``flow_active``, ``suspend_flow``,
  ``perform_seek``, ``highwater``, ``wait_first``, ``consumer_stopped_errors``.
- ``Consumer.pause_partitions``, ``resume_partitions`` and ``assignment``
  (public), through each tapped topic's :class:`~.tap_lanes.TapLane`: a tap
  that waits pauses its own topic's partitions, never the fetch loop.
  Changed: a waiting tap stops every topic again (cancellations are not read
  while the calls cap is full).

Before changing the pin, run the tests in ``INTERNALS_TESTS``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Callable
from typing import Any, Protocol, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from async_toolformer.streams.exceptions import ConfigurationError
from async_toolformer.streams.kafka.tap_lanes import RecordTap, TapLane

__all__ = [
    "INTERNALS_TESTS", "PINNED_FAUST_VERSION", "FetchedRecord", "RecordGate", "RecordTap",
    "TapHost", "TappableApp", "ack_records", "check_faust_version", "installed_faust_version",
    "require_pinned_faust",
]

PINNED_FAUST_VERSION = "0.15.3"  # the same as pyproject.toml's faust-streaming pin
#: The tests that go through the internals above, to run before moving the pin.
INTERNALS_TESTS = (
    "tests/unit/test_faust_private.py",  # the fetch wait override, and this module's rules
    "tests/pipeline/test_commits.py",  # tapped and gated records are all acked and committed
    "tests/pipeline/test_crash.py",  # kill -9: no commit passes a call without its result
    "tests/pipeline/test_scaling.py",  # a rebalance mid-tap: flow suspension, seek, re-reads
    "tests/pipeline/test_parallel.py",  # many calls through the tap at once
    "tests/sessions/test_busy_worker.py",  # a waiting tap pauses calls, not the fetch loop
)

_YIELD_EVERY = 100  # records handed over between two turns given to the rest of the loop
_TAP_CHUNK = 256  # records of one topic handed to its tap at once

RecordGate = Callable[[Any], bool]


def check_faust_version(found: str | None, pinned: str = PINNED_FAUST_VERSION) -> None:
    """Raise :class:`ConfigurationError` unless ``found`` is exactly ``pinned``."""
    if found == pinned:
        return
    shown = "not installed" if found is None else found
    tests = " ".join(INTERNALS_TESTS)
    raise ConfigurationError(
        f"faust-streaming {shown} found, but this worker runs only on the pinned "
        f"faust-streaming=={pinned}: its tap and ack bookkeeping use Faust's private "
        f"internals (streams/kafka/faust_private.py, docs/faust.md). Install "
        f"faust-streaming=={pinned}; to move the pin, change PINNED_FAUST_VERSION and "
        f"pyproject.toml together and first pass: pytest {tests}")


def installed_faust_version() -> str | None:
    try:
        return importlib.metadata.version("faust-streaming")
    except importlib.metadata.PackageNotFoundError:
        return None


def require_pinned_faust() -> None:
    """Refuse to build a worker on a faust-streaming other than the pinned one."""
    check_faust_version(installed_faust_version())


class TapHost(Protocol):
    """What our consumer reads from its app (``ToolformerApp`` provides it)."""

    fetch_max_wait_ms: int
    record_gates: dict[str, RecordGate]
    record_taps: dict[str, RecordTap]


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
        self.acked = False  # set by ``ack_records``


def ack_records(consumer: Any, records: list[Any]) -> None:
    """Faust's ``Consumer.ack`` for many fetched records of tapped or gated topics."""
    cast(_TapConsumer, consumer).ack_many(records)


class TappableApp(faust.App):
    """A ``faust.App`` whose worker consumer is ours; subclasses implement :class:`TapHost`."""

    def _new_transport(self) -> Any:
        return _TapTransport(self.conf.broker_consumer, self)


class _FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast(TapHost, self.app).fetch_max_wait_ms
        return consumer


class _TapConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tap_lanes: dict[str, TapLane] = {}

    def _new_consumer_thread(self) -> Any:
        return _FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop, racing flow suspension (a rebalance) once per fetched batch.

        Tapped records go to their topic's lane and the loop goes on; a lane whose
        tap waits has its topic's partitions paused before the next fetch.
        """
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        lanes = self.tap_lanes
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                for lane in lanes.values():
                    lane.regulate()
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
            for lane in lanes.values():
                lane.cancel()

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
        host = cast(TapHost, self.app)
        batch: list[tuple[Any, Any]] = []
        for tp, fetched in records.items():
            if active is not None and tp not in active and tp not in buffered:
                continue
            track_end_offset(tp, self.highwater(tp))
            if tp.topic in host.record_taps or tp.topic in host.record_gates:
                batch.extend((tp, FetchedRecord(tp, record)) for record in fetched)
            else:
                batch.extend((tp, to_message(tp, record)) for record in fetched)
        return batch

    async def _deliver(self, batch: list[tuple[Any, Any]]) -> None:
        """Pass each new record of ``batch`` to Faust's conductor, or in chunks to its tap's lane.

        A record counts as read (``_read_offset``) once it was handed over (to a
        lane, for a tapped one): a delivery cut short by a rebalance leaves the
        rest to be read again after the seek that ends it, which also reads
        again what a lane dropped. Records a gate refuses are acked together at
        the end, cut short or not.
        """
        refused: list[Any] = []
        try:
            await self._deliver_each(batch, refused)
        finally:
            self.ack_many(refused)

    async def _deliver_each(self, batch: list[tuple[Any, Any]], refused: list[Any]) -> None:
        callback = self.callback
        read_offsets = self._read_offset
        gates = cast(TapHost, self.app).record_gates
        taps = cast(TapHost, self.app).record_taps
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
                    self._hand_to_lane(message.topic, taps, chunks.pop(message.topic))
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
            self._hand_to_lane(topic, taps, chunk)

    def _hand_to_lane(self, topic: str, taps: dict[str, RecordTap],
                      chunk: list[tuple[Any, Any]]) -> None:
        lane = self.tap_lanes.get(topic)
        if lane is None:
            lane = self.tap_lanes[topic] = TapLane(self, topic, taps[topic])
        lane.push([message for _, message in chunk])
        read_offsets = self._read_offset
        for tp, message in chunk:
            read_offsets[tp] = message.offset

    def ack_many(self, records: list[Any]) -> None:
        """Faust's ``ack`` for many records, under one lock instead of one each.

        The same bookkeeping, without looking a record up among the messages
        Faust's streams track: these records never were.
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


class _TapTransport(faust_aiokafka.Transport):
    Consumer = _TapConsumer
