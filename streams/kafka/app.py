"""The Faust app factory: a worker's app, with its tap, gates, acks and short fetch wait.

Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500`` for the worker's
consumer; a broker that answers a fetch only at that deadline then adds up to
1.5 s to every call (docs/broker.md, docs/faust.md). The app takes that number
from settings, and hands each fetched batch to the agents' channels with one
race against a flow suspension per batch instead of one per record (Faust
starts four futures for every record to do that race, which was the largest
single cost of a call in the worker). Everything that needs Faust's private
internals for this lives in :mod:`.faust_private`; this module uses only its
names and Faust's public API.
"""

from __future__ import annotations

from typing import Any

from async_toolformer.streams.kafka.faust_private import (
    FetchedRecord,
    RecordGate,
    RecordTap,
    TappableApp,
    ack_records,
    require_pinned_faust,
)
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.worker.settings import Settings

__all__ = ["FetchedRecord", "RecordGate", "RecordTap", "ToolformerApp", "create_app"]


class ToolformerApp(TappableApp):
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
        """Subscribe ``topic`` and hand its records to ``handler``, many at a time.

        ``handler`` may wait (backpressure): only ``topic``'s partitions pause
        meanwhile, the other topics keep flowing (:mod:`.tap_lanes`).
        """
        self.topics.add(self.topic(topic, key_serializer="raw", value_serializer="raw"))
        self.record_taps[topic] = handler

    def ack(self, records: list[Any]) -> None:
        """Mark tapped records done; Faust commits up to the first record not done.

        Faust mishandles a record not done at the head of a partition
        (docs/faust.md): ack a partition's records in offset order only, as the
        executor's ``OffsetTracker`` does.
        """
        ack_records(self.consumer, records)


def create_app(settings: Settings, bootstrap_servers: str) -> ToolformerApp:
    """A Faust app for one worker of the ``settings.group_id`` consumer group.

    Raises ``ConfigurationError`` on a faust-streaming other than the pinned one.
    """
    require_pinned_faust()
    brokers = [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")]
    app = ToolformerApp(
        settings.group_id,
        broker=brokers,
        # TLS and SASL as every other client of ours: Faust passes these to aiokafka.
        broker_credentials=KafkaSecurity.from_settings(settings).faust_credentials(),
        # The app is started by run_worker, never by ``faust worker``, whose
        # --with-web default would bind port 6066 whatever this says.
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
    # Faust's co-partitioning assignor runs only with standby replicas, and the
    # environment (TABLE_STANDBY_REPLICAS) overrides the constructor's value;
    # with 0 a round-robin assignor splits calls from their cancellations
    # (docs/faust.md). Set after construction, this value is the one used.
    app.conf.table_standby_replicas = 1
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    return app
