"""Which sessions and branches are cancelled, remembered so late calls never start.

Calls and cancellations travel on two topics, so a cancellation can be read
before the calls it is meant for. The book keeps each cancellation for
``ttl_s`` (bounded to ``max_entries``, oldest forgotten first) and answers for
every call that arrives meanwhile.

The book lives in one worker's memory, and a partition's next owner (after a
rebalance or a restart) does not read the cancellations its last owner
consumed. So a worker with the ledger also keeps each cancellation in Redis,
by partition, for the same ``ttl_s``, and reads a partition's back the first
time it sees calls of that partition (:mod:`.kept_cancellations`). That costs
one round trip per cancellation and one per partition per assignment; a call
with no cancellation pays nothing more than the lookup here. Restored entries
are recorded with what is left of their TTL (``record(..., ttl_s=...)``).

A cancellation applies to its tenant's calls only: the book is keyed by
tenant, session and branch, so a stranger naming another tenant's session id
cancels nothing of it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from async_toolformer.schemas import DEFAULT_TENANT, BranchCancelled, Cancellation

_Key = tuple[str, str, str | None]  # tenant, session, branch (None: the whole session)


class CancellationBook:
    """Cancelled ``(tenant, session, branch)``; a ``None`` branch means the whole session."""

    def __init__(self, *, ttl_s: float = 3600.0, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[_Key, tuple[float, str]] = OrderedDict()

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def record(self, cancellation: Cancellation, *, ttl_s: float | None = None) -> None:
        """Remember ``cancellation`` for the book's TTL, or for ``ttl_s`` (what is left of
        one restored from a store), never longer; an entry held that lasts longer stays."""
        branch = cancellation.branch_id if isinstance(cancellation, BranchCancelled) else None
        key = (cancellation.tenant, cancellation.session_id, branch)
        expires = self._clock() + (self._ttl_s if ttl_s is None else min(ttl_s, self._ttl_s))
        held = self._entries.get(key)
        if ttl_s is not None and held is not None and held[0] >= expires:
            return
        self._entries.pop(key, None)
        self._entries[key] = (expires, cancellation.reason)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def reason(self, session_id: str, branch_id: str, *,
               tenant: str = DEFAULT_TENANT) -> str | None:
        """Why calls of this tenant's branch must not run, or None when they may."""
        if not self._entries:
            return None
        for key in ((tenant, session_id, None), (tenant, session_id, branch_id)):
            entry = self._entries.get(key)
            if entry is None:
                continue
            expires, reason = entry
            if expires >= self._clock():
                return reason
            del self._entries[key]
        return None

    def __len__(self) -> int:
        return len(self._entries)
