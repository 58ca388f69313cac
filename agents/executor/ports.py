"""The two seams the executor agent talks through: where events are published, what is observed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from async_toolformer.schemas import DeadLetterReason

if TYPE_CHECKING:
    from .guarding import Sealed


class EventPublisher(Protocol):
    """Publishes encoded events and returns once the broker has acknowledged them.

    A record the broker refuses for good (too large, say) is not retried: it is
    reported back, so the caller can answer some other way instead of waiting.
    """

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> bool:
        """Publish one record: True once the broker has it, False if it refused it for good."""
        ...

    async def publish_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]
                           ) -> list[tuple[bytes | None, bytes]]:
        """Publish (key, value) records together; return those refused for good (usually none)."""
        ...


@runtime_checkable
class HeaderPublisher(Protocol):
    """A publisher that also sends record headers (the trace context of traced results)."""

    async def publish_headed(self, topic: str, key: bytes | None, value: bytes,
                             headers: list[tuple[str, bytes]] | None) -> bool: ...

    async def publish_many_headed(
            self, topic: str,
            records: Sequence[tuple[bytes | None, bytes, list[tuple[str, bytes]] | None]],
    ) -> list[tuple[bytes | None, bytes]]: ...


class ExecutorObserver(Protocol):
    """Receives what the metrics exporter counts; every method must be cheap."""

    def result(self, result: Sealed) -> None: ...

    def dead_letter(self, reason: DeadLetterReason) -> None: ...

    def queue_wait(self, tool: str, seconds: float) -> None: ...

    def watch_held(self, count: Callable[[], int]) -> None:
        """Read the records held behind an unfinished head of their partition from ``count``."""
        ...


class NullObserver:
    """Observes nothing; the default where no metrics are wanted."""

    def result(self, result: Sealed) -> None:
        pass

    def dead_letter(self, reason: DeadLetterReason) -> None:
        pass

    def queue_wait(self, tool: str, seconds: float) -> None:
        pass

    def watch_held(self, count: Callable[[], int]) -> None:
        pass
