"""The two seams the executor agent talks through: where events are published, what is observed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from async_toolformer.schemas import DeadLetterReason, ToolCallCompleted


class EventPublisher(Protocol):
    """Publishes encoded events and returns once the broker has acknowledged them."""

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None: ...

    async def publish_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]
                           ) -> None:
        """Publish (key, value) records together; returns once the broker has them all."""
        ...


class ExecutorObserver(Protocol):
    """Receives what the metrics exporter counts; every method must be cheap."""

    def result(self, result: ToolCallCompleted) -> None: ...

    def dead_letter(self, reason: DeadLetterReason) -> None: ...

    def queue_wait(self, tool: str, seconds: float) -> None: ...


class NullObserver:
    """Observes nothing; the default where no metrics are wanted."""

    def result(self, result: ToolCallCompleted) -> None:
        pass

    def dead_letter(self, reason: DeadLetterReason) -> None:
        pass

    def queue_wait(self, tool: str, seconds: float) -> None:
        pass
