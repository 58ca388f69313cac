"""An in-process ledger for unit tests of code that needs one (not shared across processes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from async_toolformer.streams.redis.ledger.claims import Claim
from async_toolformer.streams.redis.ledger.model import LedgerModel


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class InMemoryLedger:
    """:class:`LedgerModel` behind the :class:`Ledger` protocol; ``clock`` gives ms."""

    def __init__(self, *, lease_ms: int = 10_000, retention_s: float = 86_400,
                 clock: Callable[[], int] = _monotonic_ms) -> None:
        self.lease_ms = lease_ms
        self.model = LedgerModel(lease_ms=lease_ms, retention_ms=int(retention_s * 1000))
        self._clock = clock

    async def claim(self, call_id: str, worker_id: str, *, lease_ms: int | None = None,
                    fingerprint: str = "") -> Claim:
        """See :meth:`ExecutionLedger.claim`."""
        return self.model.claim(call_id, worker_id, self._clock(), lease_ms, fingerprint)

    async def renew(self, call_id: str, token: int, *, lease_ms: int | None = None) -> bool:
        """See :meth:`ExecutionLedger.renew`."""
        return self.model.renew(call_id, token, self._clock(), lease_ms)

    async def complete(self, call_id: str, token: int, result: bytes, *,
                       fingerprint: str = "") -> bool:
        """See :meth:`ExecutionLedger.complete`."""
        return self.model.complete(call_id, token, result, self._clock(), fingerprint)

    async def release(self, call_id: str, token: int) -> bool:
        """See :meth:`ExecutionLedger.release`."""
        return self.model.release(call_id, token, self._clock())

    async def lookup(self, call_id: str) -> bytes | None:
        """See :meth:`ExecutionLedger.lookup`."""
        return self.model.lookup(call_id, self._clock())

    async def entry(self, call_id: str) -> tuple[str, bytes] | None:
        """See :meth:`ExecutionLedger.entry`."""
        return self.model.entry(call_id, self._clock())

    async def claim_many(self, requests: Sequence[tuple[str, str]], *,
                         fingerprints: Sequence[str] | None = None) -> list[Claim]:
        """See :meth:`ExecutionLedger.claim_many`."""
        prints = fingerprints if fingerprints is not None else [""] * len(requests)
        return [await self.claim(call_id, worker_id, fingerprint=fp)
                for (call_id, worker_id), fp in zip(requests, prints, strict=True)]

    async def complete_many(self, results: Sequence[tuple[str, int, bytes]], *,
                            fingerprints: Sequence[str] | None = None) -> list[bool]:
        """See :meth:`ExecutionLedger.complete_many`."""
        prints = fingerprints if fingerprints is not None else [""] * len(results)
        return [await self.complete(call_id, token, result, fingerprint=fp)
                for (call_id, token, result), fp in zip(results, prints, strict=True)]

    async def release_many(self, leases: Sequence[tuple[str, int]]) -> list[bool]:
        """See :meth:`ExecutionLedger.release_many`."""
        return [await self.release(call_id, token) for call_id, token in leases]
