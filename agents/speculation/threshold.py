"""The adaptive confidence threshold of one (tenant, tool): keep measured precision on target.

Precision is measured on the feedback of speculative runs (used or not). Once enough
feedback has come in, a precision below the target raises the threshold a step and
one comfortably above lowers it a step; either way measuring starts afresh, so one
bad stretch moves the threshold once, not on every feedback that follows it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

STEP = 0.05
"""How far one adjustment moves the threshold."""
MARGIN = 0.1
"""Precision must exceed the target by this much before the threshold is lowered."""
MIN_FEEDBACK = 10
"""Feedbacks measured before the threshold may move (fewer if the window is smaller)."""


@dataclass(slots=True)
class AdaptiveThreshold:
    """A threshold in [floor, ceiling] moved by measured precision against ``target``."""

    value: float
    target: float
    floor: float
    ceiling: float
    window: deque[bool] = field(default_factory=deque)
    window_size: int = 50

    def __post_init__(self) -> None:
        self.value = min(self.ceiling, max(self.floor, self.value))
        self.window = deque(self.window, maxlen=self.window_size)

    def record(self, used: bool) -> None:
        """Take one feedback; adjust once enough of them have been measured."""
        self.window.append(used)
        if len(self.window) < min(MIN_FEEDBACK, self.window_size):
            return
        precision = sum(self.window) / len(self.window)
        if precision < self.target and self.value < self.ceiling:
            self.value = min(self.ceiling, self.value + STEP)
            self.window.clear()
        elif precision >= self.target + MARGIN and self.value > self.floor:
            self.value = max(self.floor, self.value - STEP)
            self.window.clear()

    @property
    def precision(self) -> float | None:
        """Precision over the current window, None before any feedback."""
        return sum(self.window) / len(self.window) if self.window else None
