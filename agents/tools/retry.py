"""Retry policy of a tool: how many attempts, how long between them, on which errors."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..exceptions import ToolFailure


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter.

    The delay before attempt ``n + 1`` is ``initial_delay_s * multiplier ** (n - 1)``,
    capped at ``max_delay_s``, then spread by up to ``jitter`` of itself either way
    so that many calls failing together do not retry in lock step.
    """

    attempts: int = 1
    initial_delay_s: float = 0.1
    max_delay_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retry_on: tuple[type[BaseException], ...] = field(default=())
    retry_on_timeout: bool = False

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether ``error`` from attempt number ``attempt`` (1-based) earns another try."""
        if attempt >= self.attempts:
            return False
        if isinstance(error, ToolFailure):
            return error.retryable
        if isinstance(error, TimeoutError):
            return self.retry_on_timeout
        return isinstance(error, self.retry_on)

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (attempt - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


NO_RETRY = RetryPolicy()
