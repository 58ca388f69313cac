"""The root of every error this package raises on purpose, and the wire's own errors.

The root lives here because schemas is the innermost package: every layer
imports it and it imports nothing of ours, so agents and streams can both
subclass one :class:`ToolformerError` and a caller catches our errors with one
``except``. The tree (``+ X`` names a second base; ``[retriable]`` marks
``retriable = True``; modules are under ``async_toolformer``)::

    ToolformerError                                     schemas.exceptions
    ├── SchemaError                                     schemas.exceptions
    │   ├── UndecodableError                            schemas.exceptions
    │   └── InvalidEventError                           schemas.exceptions
    ├── ToolRegistryError                               agents.exceptions
    │   ├── ToolDefinitionError                         agents.exceptions
    │   ├── UnknownToolError                            agents.exceptions
    │   ├── InvalidArgumentsError                       agents.exceptions
    │   └── ToolLoadError                               agents.exceptions
    ├── ProviderError                                   agents.providers.exceptions
    │   ├── ProviderAuthError                           agents.providers.exceptions
    │   └── ProviderRateLimitError                      agents.providers.exceptions
    ├── SessionError                                    agents.sessions.exceptions
    │   └── UnknownScorerError                          agents.sessions.exceptions
    ├── PlanError                                       agents.plans.exceptions
    │   ├── InvalidReferenceError                       agents.plans.exceptions
    │   ├── UnknownReferenceError                       agents.plans.exceptions
    │   ├── PathNotFoundError                           agents.plans.exceptions
    │   ├── DependencyCycleError                        agents.plans.exceptions
    │   ├── DependencyLimitError                        agents.plans.exceptions
    │   └── PlanSyntaxError                             agents.plans.exceptions
    ├── ConfigurationError                              streams.exceptions
    │   ├── TopicMismatchError                          streams.exceptions
    │   └── ConfigFileError                             streams.config_file
    │       ├── LimitsConfigError                       streams.redis.ratelimit.exceptions
    │       └── PolicyConfigError                       streams.worker.policy_file
    ├── ServiceUnavailableError [retriable]             streams.exceptions
    │   ├── BrokerStartError [retriable]                streams.devtools.stack.exceptions
    │   └── RedisStartError [retriable]                 streams.devtools.stack.exceptions
    ├── ResultTimeoutError                              streams.exceptions
    ├── PublishRefusedError                             streams.client.exceptions
    ├── SessionFailedError                              streams.client.exceptions
    ├── SessionTimeoutError                             streams.client.exceptions
    ├── ReplayError                                     streams.ops.exceptions
    │   ├── RangeError + ConfigurationError             streams.ops.exceptions
    │   ├── UnguardedReplayError + ConfigurationError   streams.ops.exceptions
    │   ├── ReplayIncompleteError                       streams.ops.exceptions
    │   └── UnknownTopicError                           streams.ops.exceptions
    ├── RateLimitError                                  streams.redis.ratelimit.exceptions
    │   ├── RateLimitedError                            streams.redis.ratelimit.exceptions
    │   ├── QuotaTooLargeError                          streams.redis.ratelimit.exceptions
    │   └── RateLimiterUnavailableError + ServiceUnavailableError [retriable]
    │                                                   streams.redis.ratelimit.exceptions
    ├── LedgerError                                     streams.redis.ledger.exceptions
    │   ├── LedgerUnavailableError + ServiceUnavailableError [retriable]
    │   │                                               streams.redis.ledger.exceptions
    │   ├── LedgerConfigError + ConfigurationError      streams.redis.ledger.exceptions
    │   ├── LedgerEntryError                            streams.redis.ledger.exceptions
    │   └── LeaseLostError                              streams.redis.claim
    ├── CancellationStoreUnavailableError               agents.executor.kept_cancellations
    ├── ScriptError                                     streams.devtools.fakellm.exceptions
    └── ScriptMismatchError                             streams.devtools.fakellm.exceptions

Outside the tree on purpose: ``agents.exceptions.ToolFailure``, which tool
code raises to shape its own failed result (its docstring says why).
tests/unit/test_exceptions.py checks this drawing against the classes.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["InvalidEventError", "SchemaError", "ToolformerError", "UndecodableError"]


class ToolformerError(Exception):
    """Base of the errors this package raises on purpose; each message says what to do.

    ``retriable`` (a class attribute, False here) is True only on the errors
    that mean a service did not answer (``ServiceUnavailableError`` and
    the errors under it, such as the ledger's and the rate limiter's Redis
    being unreachable): the same operation may succeed unchanged later, so the
    caller must decide whether to retry. On every other error a retry repeats
    the failure until the input or the settings change.
    """

    retriable: ClassVar[bool] = False


class SchemaError(ToolformerError):
    """Input that cannot become an event. ``call_id`` is set when it could be read.

    Not a ValueError: every reader catches it (or its subclasses) by name.
    """

    def __init__(self, message: str, *, call_id: str | None = None) -> None:
        super().__init__(message)
        self.call_id = call_id


class UndecodableError(SchemaError):
    """The bytes are not JSON."""


class InvalidEventError(SchemaError):
    """The JSON does not match the event's schema."""
