"""Cancellation events (topic ``cancellations``, keyed by ``session_id``).

A cancellation names its tenant and stops only calls of that tenant: a session
id alone is no proof of whose session it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ._base import Event, Identifier, utc_now
from .calls import DEFAULT_TENANT


class BranchCancelled(Event):
    """Stop every queued and running call of one branch of a session."""

    type: Literal["branch_cancelled"] = "branch_cancelled"
    session_id: Identifier
    branch_id: Identifier
    reason: str = "cancelled"
    tenant: Identifier = Field(default=DEFAULT_TENANT,
                               description="Only calls of this tenant are cancelled.")
    cancelled_at: datetime = Field(default_factory=utc_now)


class SessionCancelled(Event):
    """Stop every queued and running call of a session, on all branches."""

    type: Literal["session_cancelled"] = "session_cancelled"
    session_id: Identifier
    reason: str = "cancelled"
    tenant: Identifier = Field(default=DEFAULT_TENANT,
                               description="Only calls of this tenant are cancelled.")
    cancelled_at: datetime = Field(default_factory=utc_now)


Cancellation = BranchCancelled | SessionCancelled
