"""The workers' consumer group as the broker sees it: members, partitions, lag, in flight.

What each broker can tell differs, and the status says where each figure came from:

- Partitions per member come from the members' assignments in DescribeGroups.
  The embedded broker returns them empty; then each partition's owner is shown
  as the worker that published its latest result (read from ``results``), a
  good guess for a busy group, stale for an idle one.
- Lag is the end offset minus the committed offset of ``calls``. End offsets lag
  on the embedded broker after a batched write (docs/broker.md), so lag is an
  estimate there: it can read low, never high, and is floored at zero.
- Calls in flight come from the workers' ``toolformer_calls_in_flight`` gauge.
  Faust joins the group with its own client id, so members cannot be matched
  to workers' metrics endpoints; pass the endpoints and each is shown on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from prometheus_client.parser import text_string_to_metric_families

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.log_reader import topic_partitions

IN_FLIGHT_METRIC = "toolformer_calls_in_flight"


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    client_id: str
    host: str
    partitions: tuple[int, ...]  # of ``calls``; empty when the broker does not say


@dataclass(frozen=True, slots=True)
class PartitionState:
    partition: int
    committed: int | None
    end: int | None
    owner: str | None
    owner_source: str  # "assignment", "latest result" or "unknown"

    @property
    def lag(self) -> int | None:
        if self.end is None:
            return None
        return max(0, self.end - (self.committed or 0))

    @property
    def end_behind_commit(self) -> bool:
        """The broker reported an end offset below the commit: its end offsets lag."""
        return self.end is not None and self.committed is not None and self.end < self.committed


@dataclass
class GroupStatus:
    group_id: str
    topic: str
    state: str
    members: list[Member]
    partitions: list[PartitionState]
    in_flight: dict[str, float | None] = field(default_factory=dict)

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)

    @property
    def lag_is_estimate(self) -> bool:
        return any(p.end_behind_commit for p in self.partitions)


async def group_status(bootstrap_servers: str, group_id: str, topics: TopicCatalogue, *,
                       metrics_urls: tuple[str, ...] = (), scan_results: int = 200,
                       security: KafkaSecurity = PLAINTEXT) -> GroupStatus:
    """Describe ``group_id`` on ``topics.calls``; see the module for where figures come from."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                **security.client_options())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                fetch_max_wait_ms=50, **security.client_options())
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(topics.calls, p)
               for p in sorted(await topic_partitions(consumer, topics.calls))]
        state, members = await _members(admin, group_id, topics.calls)
        committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
        ends = await consumer.end_offsets(tps)
        owners = {p: (m.member_id, "assignment") for m in members for p in m.partitions}
        if not owners and members:
            latest = await _latest_workers(consumer, topics.results, len(tps), scan_results)
            owners = {p: (w, "latest result") for p, w in latest.items()}
    finally:
        await consumer.stop()
        await admin.close()
    partitions = []
    for tp in tps:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else None
        owner, source = owners.get(tp.partition, (None, "unknown"))
        partitions.append(PartitionState(tp.partition, offset, ends.get(tp), owner, source))
    in_flight = dict(zip(metrics_urls, await asyncio.gather(
        *(read_in_flight(url) for url in metrics_urls)), strict=True))
    return GroupStatus(group_id, topics.calls, state, members, partitions, in_flight)


async def read_in_flight(url: str, timeout_s: float = 2.0) -> float | None:
    """The ``toolformer_calls_in_flight`` gauge at a ``/metrics`` URL; None if unreachable."""
    def fetch() -> str:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            text: str = response.read().decode()
            return text

    try:
        text = await asyncio.to_thread(fetch)
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        if family.name == IN_FLIGHT_METRIC and family.samples:
            return float(family.samples[0].value)
    return None


async def _members(admin: AIOKafkaAdminClient, group_id: str, topic: str
                   ) -> tuple[str, list[Member]]:
    [response] = await admin.describe_consumer_groups([group_id])
    [group] = response.groups
    _error, _group, state, _ptype, _protocol, raw_members = group[:6]
    members = []
    for member_id, client_id, host, _metadata, assignment in raw_members:
        mine: tuple[int, ...] = ()
        if assignment:
            with contextlib.suppress(Exception):  # a non-consumer protocol: no partitions
                decoded = ConsumerProtocolMemberAssignment.decode(assignment)
                mine = tuple(sorted(p for t, ps in decoded.assignment if t == topic for p in ps))
        members.append(Member(member_id, client_id, host, mine))
    return state, members


async def _latest_workers(consumer: AIOKafkaConsumer, results: str, partitions: int,
                          scan: int) -> dict[int, str]:
    """The worker of the latest result per partition, read from near the reported end.

    Starting ``scan`` records before the reported end and reading until idle
    finds the true last record even when the reported end lags behind it.
    """
    tps = [TopicPartition(results, p) for p in range(partitions)]
    consumer.assign(tps)
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, max(0, ends[tp] - scan))
    latest: dict[int, str] = {}
    while batches := await consumer.getmany(timeout_ms=300, max_records=10_000):
        for tp, records in batches.items():
            for record in records:
                with contextlib.suppress(SchemaError):
                    latest[tp.partition] = decode_as(ToolCallCompleted,
                                                     record.value or b"").worker_id
    return latest
