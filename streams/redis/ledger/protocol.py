"""The seam between the executor and its ledger: Redis in production, memory in unit tests."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol

from async_toolformer.streams.redis.ledger.claims import Claim


class Ledger(Protocol):
    """What a worker asks of an execution ledger; see :class:`ExecutionLedger`."""

    lease_ms: int

    # Awaitables rather than coroutines: the Redis ledger hands out its batch's
    # futures directly, one coroutine frame fewer on every call's hot path.
    def claim(self, call_id: str, worker_id: str, *, lease_ms: int | None = None,
              fingerprint: str = "") -> Awaitable[Claim]: ...

    def renew(self, call_id: str, token: int, *,
              lease_ms: int | None = None) -> Awaitable[bool]: ...

    def complete(self, call_id: str, token: int, result: bytes, *,
                 fingerprint: str = "") -> Awaitable[bool]: ...

    def release(self, call_id: str, token: int) -> Awaitable[bool]: ...

    def lookup(self, call_id: str) -> Awaitable[bytes | None]: ...

    # One round trip for a whole batch of calls, e.g. the calls of one fetch.
    async def claim_many(self, requests: Sequence[tuple[str, str]], *,
                         fingerprints: Sequence[str] | None = None) -> list[Claim]: ...

    async def complete_many(self, results: Sequence[tuple[str, int, bytes]], *,
                            fingerprints: Sequence[str] | None = None) -> list[bool]: ...

    async def entry(self, call_id: str) -> tuple[str, bytes] | None: ...

    async def release_many(self, leases: Sequence[tuple[str, int]]) -> list[bool]: ...
