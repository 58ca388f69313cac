"""The Faust app factory, with the consumer's fetch wait under our control.

Faust's aiokafka driver hard-codes ``fetch_max_wait_ms=1500`` for the worker's
consumer; a broker that answers a fetch only at that deadline then adds up to
1.5 s to every call (BROKER-NOTES.md). The subclasses below change that one
number, from settings, and nothing else.
"""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from async_toolformer.schemas import faust_codec

from .settings import Settings


class _FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast(ToolformerApp, self.app).fetch_max_wait_ms
        return consumer


class _FetchWaitConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _FetchWaitTransport(faust_aiokafka.Transport):
    Consumer = _FetchWaitConsumer


class ToolformerApp(faust.App):
    """A Faust app whose worker consumer waits ``fetch_max_wait_ms`` for data."""

    fetch_max_wait_ms: int = 5

    def _new_transport(self) -> Any:
        return _FetchWaitTransport(self.conf.broker_consumer, self)


def create_app(settings: Settings, bootstrap_servers: str) -> ToolformerApp:
    """A Faust app for one worker of the ``settings.group_id`` consumer group."""
    faust_codec.register()
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
