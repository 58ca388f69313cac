"""The seam between the executor and its ledger: Redis in production, memory in unit tests."""

from __future__ import annotations

from typing import Protocol

from .claims import Claim


class Ledger(Protocol):
    """What a worker asks of an execution ledger; see :class:`ExecutionLedger`."""

    lease_ms: int

    async def claim(self, call_id: str, worker_id: str, *,
                    lease_ms: int | None = None) -> Claim: ...

    async def renew(self, call_id: str, token: int, *, lease_ms: int | None = None) -> bool: ...

    async def complete(self, call_id: str, token: int, result: bytes) -> bool: ...

    async def release(self, call_id: str, token: int) -> bool: ...

    async def lookup(self, call_id: str) -> bytes | None: ...
