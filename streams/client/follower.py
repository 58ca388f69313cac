"""Following one partition of ``session-events`` for the sessions a client waits on."""

from __future__ import annotations

from collections.abc import Callable

from async_toolformer.schemas import SessionEvent, decode_session_event
from async_toolformer.streams.client.reader import PartitionReader

__all__ = ["journal_follower"]


def journal_follower(bootstrap_servers: str, topic: str, partition: int,
                    handler: Callable[[SessionEvent], None], *,
                    from_beginning: bool = False) -> PartitionReader[SessionEvent]:
    """A reader of session events (see :class:`PartitionReader` for where it starts)."""
    return PartitionReader(bootstrap_servers, topic, partition, handler,
                           decode=decode_session_event, from_beginning=from_beginning)
