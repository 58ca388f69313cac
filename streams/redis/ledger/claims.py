"""The answers to a claim: run it, answer from the record, leave it alone, or refuse it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Acquired:
    """The caller holds the lease: run the call, then ``complete`` with ``token``.

    ``takeover_from`` names the worker whose lease expired without a result: the
    tool may have run. Run it again only if it is idempotent; otherwise complete
    with an ``indeterminate`` result under this token.
    """

    token: int
    takeover_from: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """A result is recorded for this call: answer with it, do not run the tool."""

    result: bytes


@dataclass(frozen=True, slots=True)
class HeldElsewhere:
    """A live lease is held (possibly by the caller itself): do not start the call."""

    owner: str
    expires_in_ms: int


@dataclass(frozen=True, slots=True)
class Conflict:
    """The key is held or recorded for another execution (another fingerprint: another
    tenant, session, tool or arguments). Answer the caller with a conflict error, never
    with the other execution's result, and leave the entry alone."""


Claim = Acquired | Recorded | HeldElsewhere | Conflict
