"""The whole dev stack in one ``async with``: Kafka, Redis and the topics.

    async with DevStack(Settings()) as stack:
        worker_settings = stack.settings   # addresses filled in
        print(stack.bootstrap_servers, stack.redis_url)

Environment overrides win (through the settings); whatever the stack started
it stops on exit, and the children die with the interpreter regardless.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

from async_toolformer.streams.devtools.stack.services import (
    KafkaHandle,
    RedisHandle,
    ServiceSource,
    resolve_kafka,
    resolve_redis,
)
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.redis.client import redis_security_options
from async_toolformer.streams.worker.settings import Settings

__all__ = ["DevStack"]


_NO_KAFKA_SECURITY = {
    "kafka_security_protocol": "PLAINTEXT", "kafka_ssl_cafile": None,
    "kafka_ssl_certfile": None, "kafka_ssl_keyfile": None, "kafka_sasl_mechanism": None,
    "kafka_sasl_username": None, "kafka_sasl_password": None}
_NO_REDIS_SECURITY = {"redis_username": None, "redis_password": None,
                      "redis_ssl_ca_certs": None}


class DevStack:
    """Resolve (or start) Kafka and Redis, then create the catalogue's topics."""

    def __init__(self, settings: Settings | None = None, *, create_topics: bool = True) -> None:
        self._settings = settings or Settings()
        self._create_topics = create_topics
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._kafka: KafkaHandle | None = None
        self._redis: RedisHandle | None = None
        self.catalogue = TopicCatalogue(self._settings.topic_prefix)

    @property
    def kafka(self) -> KafkaHandle:
        if self._kafka is None:
            raise RuntimeError("DevStack is not started; use `async with DevStack(...)`")
        return self._kafka

    @property
    def redis(self) -> RedisHandle:
        if self._redis is None:
            raise RuntimeError("DevStack is not started; use `async with DevStack(...)`")
        return self._redis

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def settings(self) -> Settings:
        """The given settings with the resolved service addresses filled in.

        A service the stack started itself (the embedded broker, a throwaway
        redis-server) is plaintext without a password: the security settings of
        the one configured instead are dropped.
        """
        update: dict[str, object] = {"kafka_bootstrap_servers": self.bootstrap_servers,
                                     "redis_url": self.redis_url}
        if self.kafka.source is not ServiceSource.ENV:
            update.update(_NO_KAFKA_SECURITY)
        if self.redis.source is not ServiceSource.ENV:
            update.update(_NO_REDIS_SECURITY)
        return self._settings.model_copy(update=update)

    async def start(self) -> None:
        if self._exit_stack is not None:
            return
        async with contextlib.AsyncExitStack() as stack:
            security = KafkaSecurity.from_settings(self._settings)
            kafka = await resolve_kafka(self._settings.kafka_bootstrap_servers,
                                        security=security)
            stack.push_async_callback(kafka.stop)
            redis = await resolve_redis(self._settings.redis_url,
                                        options=redis_security_options(self._settings))
            stack.push_async_callback(redis.stop)
            if self._create_topics:
                await ensure_topics(
                    kafka.bootstrap_servers,
                    self.catalogue,
                    partitions=self._settings.partitions,
                    replication_factor=self._settings.replication_factor,
                    security=security if kafka.source is ServiceSource.ENV else PLAINTEXT,
                )
            self._kafka, self._redis = kafka, redis
            self._exit_stack = stack.pop_all()

    async def stop(self) -> None:
        """Stop what the stack started (Redis first, then the broker)."""
        exit_stack, self._exit_stack = self._exit_stack, None
        self._kafka = self._redis = None
        if exit_stack is not None:
            await exit_stack.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

