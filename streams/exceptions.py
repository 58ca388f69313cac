"""Errors a user of the worker, client or CLI can meet; each says what to do."""

from __future__ import annotations


class ToolformerError(Exception):
    """Base of the errors this package raises on purpose."""


class ConfigurationError(ToolformerError):
    """A setting is missing or wrong."""


class TopicMismatchError(ConfigurationError):
    """Topics exist with a partition count other than the configured one."""


class ServiceUnavailableError(ToolformerError):
    """Kafka or Redis could not be reached or started."""


class ResultTimeoutError(ToolformerError):
    """Results did not arrive in time: usually no worker runs on these topics."""
