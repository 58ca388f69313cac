"""Errors a user of the session client can meet; each says what happened and what to do."""

from __future__ import annotations

from async_toolformer.schemas import SessionFailed
from async_toolformer.schemas.exceptions import ToolformerError

__all__ = ["SessionFailedError", "SessionTimeoutError"]


class SessionFailedError(ToolformerError):
    """The session ended with SessionFailed; ``event`` holds the reason and the error."""

    def __init__(self, event: SessionFailed) -> None:
        super().__init__(f"session {event.session_id} failed ({event.reason}): {event.error}")
        self.event = event


class SessionTimeoutError(ToolformerError):
    """No end of the session arrived in time: usually no worker runs on these topics."""
