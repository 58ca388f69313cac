"""Errors of the embedded dev stack; each says what happened and what to try."""

from __future__ import annotations

from async_toolformer.streams.exceptions import ServiceUnavailableError

__all__ = ["BrokerStartError", "RedisStartError", "ServiceUnavailableError"]


class BrokerStartError(ServiceUnavailableError):
    """The embedded Kafka-compatible broker died or never answered Kafka requests."""


class RedisStartError(ServiceUnavailableError):
    """A throwaway redis-server died or never answered PING."""
