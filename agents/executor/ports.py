"""The two seams the executor agent talks through: where events are published, what is observed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from async_toolformer.schemas import DeadLetterReason

if TYPE_CHECKING:
    from .guarding import Sealed


class EventPublisher(Protocol):
    """Publishes encoded events and returns once the broker has acknowledged them."""

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None: ...

    async def publish_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]
                           ) -> None:
        """Publish (key, value) records together; returns once the broker has them all."""
        ...


class ExecutorObserver(Protocol):
    """Receives what the metrics exporter counts; every method must be cheap."""

    def result(self, result: Sealed) -> None: ...

    def dead_letter(self, reason: DeadLetterReason) -> None: ...

    def queue_wait(self, tool: str, seconds: float) -> None: ...


class NullObserver:
    """Observes nothing; the default where no metrics are wanted."""

    def result(self, result: Sealed) -> None:
        pass

    def dead_letter(self, reason: DeadLetterReason) -> None:
        pass

    def queue_wait(self, tool: str, seconds: float) -> None:
        pass
