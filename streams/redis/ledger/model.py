"""A pure-Python model of the ledger's state machine, with an explicit clock.

The Lua scripts and this model must give the same answers for the same
operations at the same times; the tests check that on real Redis. An entry
remembers the fingerprint of the execution that claimed it: a claim with
another one is a :class:`Conflict`, whatever state the entry is in. It also backs
:class:`InMemoryLedger` for unit tests of code that uses a ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from async_toolformer.streams.redis.ledger.claims import (
    Acquired,
    Claim,
    Conflict,
    HeldElsewhere,
    Recorded,
)


@dataclass(slots=True)
class _Lease:
    token: int
    owner: str  # "" once released
    expires_ms: int
    key_expires_ms: int
    fingerprint: str = ""


@dataclass(slots=True)
class _Record:
    token: int
    result: bytes
    key_expires_ms: int
    fingerprint: str = ""


class LedgerModel:
    """The state of every call_id in one namespace; each operation takes ``now_ms``."""

    def __init__(self, *, lease_ms: int, retention_ms: int) -> None:
        self.lease_ms = lease_ms
        self.retention_ms = retention_ms
        self._entries: dict[str, _Lease | _Record] = {}

    def claim(self, call_id: str, worker_id: str, now_ms: int,
              lease_ms: int | None = None, fingerprint: str = "") -> Claim:
        """See :meth:`ExecutionLedger.claim`."""
        lease = lease_ms or self.lease_ms
        entry = self._live(call_id, now_ms)
        if entry is not None and entry.fingerprint != fingerprint:
            return Conflict()
        if isinstance(entry, _Record):
            return Recorded(entry.result)
        if entry is not None and entry.expires_ms > now_ms:
            return HeldElsewhere(entry.owner, entry.expires_ms - now_ms)
        token = max((entry.token if entry else 0) + 1, now_ms)
        takeover = (entry.owner or None) if entry is not None else None
        self._entries[call_id] = _Lease(token, worker_id, now_ms + lease,
                                        now_ms + max(self.retention_ms, lease), fingerprint)
        return Acquired(token, takeover)

    def renew(self, call_id: str, token: int, now_ms: int, lease_ms: int | None = None) -> bool:
        """See :meth:`ExecutionLedger.renew`."""
        lease = lease_ms or self.lease_ms
        entry = self._live(call_id, now_ms)
        if not isinstance(entry, _Lease) or entry.token != token:
            return False
        entry.expires_ms = now_ms + lease
        entry.key_expires_ms = now_ms + max(self.retention_ms, lease)
        return True

    def complete(self, call_id: str, token: int, result: bytes, now_ms: int,
                 fingerprint: str = "") -> bool:
        """See :meth:`ExecutionLedger.complete`."""
        entry = self._live(call_id, now_ms)
        if isinstance(entry, _Record):
            return entry.token == token
        if entry is None or entry.token != token:
            return False
        self._entries[call_id] = _Record(token, result, now_ms + self.retention_ms, fingerprint)
        return True

    def release(self, call_id: str, token: int, now_ms: int) -> bool:
        """See :meth:`ExecutionLedger.release`."""
        entry = self._live(call_id, now_ms)
        if not isinstance(entry, _Lease) or entry.token != token:
            return False
        entry.owner, entry.expires_ms = "", 0
        return True

    def lookup(self, call_id: str, now_ms: int) -> bytes | None:
        """See :meth:`ExecutionLedger.lookup`."""
        entry = self._live(call_id, now_ms)
        return entry.result if isinstance(entry, _Record) else None

    def entry(self, call_id: str, now_ms: int) -> tuple[str, bytes] | None:
        """See :meth:`ExecutionLedger.entry`."""
        entry = self._live(call_id, now_ms)
        return (entry.fingerprint, entry.result) if isinstance(entry, _Record) else None

    def current_token(self, call_id: str, now_ms: int) -> int | None:
        """The token that may record now, if the call is leased (for invariants)."""
        entry = self._live(call_id, now_ms)
        return entry.token if isinstance(entry, _Lease) else None

    def _live(self, call_id: str, now_ms: int) -> _Lease | _Record | None:
        entry = self._entries.get(call_id)
        if entry is not None and entry.key_expires_ms <= now_ms:
            del self._entries[call_id]
            return None
        return entry
