"""Which sessions and branches are cancelled, remembered so late calls never start.

Calls and cancellations travel on two topics, so a cancellation can be read
before the calls it is meant for. The book keeps each cancellation for
``ttl_s`` (bounded to ``max_entries``, oldest forgotten first) and answers for
every call that arrives meanwhile.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from async_toolformer.schemas import BranchCancelled, Cancellation

_Key = tuple[str, str | None]


class CancellationBook:
    """Cancelled ``(session, branch)`` pairs; a ``None`` branch means the whole session."""

    def __init__(self, *, ttl_s: float = 3600.0, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[_Key, tuple[float, str]] = OrderedDict()

    def record(self, cancellation: Cancellation) -> None:
        branch = cancellation.branch_id if isinstance(cancellation, BranchCancelled) else None
        key = (cancellation.session_id, branch)
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl_s, cancellation.reason)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def reason(self, session_id: str, branch_id: str) -> str | None:
        """Why calls of this branch must not run, or None when they may."""
        if not self._entries:
            return None
        for key in ((session_id, None), (session_id, branch_id)):
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
