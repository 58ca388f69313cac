"""Errors a user of the session client can meet; each says what happened and what to do."""

from __future__ import annotations

from async_toolformer.schemas import SessionFailed
from async_toolformer.schemas.exceptions import ToolformerError

__all__ = ["PublishRefusedError", "SessionFailedError", "SessionTimeoutError", "published"]


class SessionFailedError(ToolformerError):
    """The session ended with SessionFailed; ``event`` holds the reason and the error."""

    def __init__(self, event: SessionFailed) -> None:
        super().__init__(f"session {event.session_id} failed ({event.reason}): {event.error}")
        self.event = event


class SessionTimeoutError(ToolformerError):
    """No end of the session arrived in time: usually no worker runs on these topics."""


class PublishRefusedError(ToolformerError):
    """The broker refused a record for good (too large, malformed): sending it again cannot
    succeed, so the client says so instead of dropping it."""

    def __init__(self, topic: str, what: str) -> None:
        super().__init__(f"the broker refused {what} on {topic} for good (see the log for why; "
                         "usually the record is over the producer's or broker's size limit)")
        self.topic = topic


def published(accepted: bool, topic: str, what: str) -> None:
    """Raise :class:`PublishRefusedError` unless the publisher said the broker took the record."""
    if not accepted:
        raise PublishRefusedError(topic, what)
