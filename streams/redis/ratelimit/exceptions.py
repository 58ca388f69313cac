"""Errors of the rate limiter; each says what happened and what to do."""

from __future__ import annotations

from typing import ClassVar

from async_toolformer.schemas.exceptions import ToolformerError
from async_toolformer.streams.config_file import ConfigFileError
from async_toolformer.streams.exceptions import ServiceUnavailableError

__all__ = ["LimitsConfigError", "QuotaTooLargeError", "RateLimitError", "RateLimitedError",
           "RateLimiterUnavailableError"]


class RateLimitError(ToolformerError):
    """Base of the rate limiter's errors."""


class RateLimitedError(RateLimitError):
    """A limit with ``backpressure = "reject"`` refused the call; try again later."""

    def __init__(self, *, retry_after_ms: int, limit: str) -> None:
        self.retry_after_ms = retry_after_ms
        self.limit = limit
        super().__init__(
            f"rate limited by limit {limit!r}: retry in {retry_after_ms} ms "
            "(or set backpressure = \"wait\" on this limit to queue instead)"
        )


class QuotaTooLargeError(RateLimitError):
    """The call costs more than the limit can ever admit at once."""

    def __init__(self, *, limit: str, cost: float) -> None:
        self.limit = limit
        self.cost = cost
        super().__init__(
            f"a call of cost {cost:g} can never pass limit {limit!r}: its burst (or window "
            "limit) is smaller; raise the limit's burst or lower the call's cost"
        )


class RateLimiterUnavailableError(RateLimitError, ServiceUnavailableError):
    """Redis did not answer a read that has no local fallback (``limits show``)."""

    retriable: ClassVar[bool] = True


class LimitsConfigError(ConfigFileError):
    """A limits file is unreadable or invalid: names the file, where, and why."""

