"""The execution ledger: each tool call runs at most once by our doing, across workers.

A worker claims a call before running it (a lease with a fencing token that only
grows), keeps the lease alive while the tool runs (:class:`LeaseKeeper`) and
records the result, which succeeds only if its token is still current. A
redelivered call is then answered from the record; a live lease is left alone;
an expired lease without a result is taken over, re-run only for idempotent
tools. See :mod:`.ledger` for the Redis layout and what an entry costs.

    ledger = ExecutionLedger.from_url("redis://localhost:6379/0", namespace="default")
    match await ledger.claim(call_id, worker_id):
        case Acquired(token, takeover_from): ...  # run (or answer indeterminate), then
                                                  # await ledger.complete(call_id, token, result)
        case Recorded(result): ...                # answer with result
        case HeldElsewhere(owner, expires_in_ms): ...  # leave it to its owner
        case Conflict(): ...                      # another execution's call_id: refuse

Pass ``fingerprint=`` to ``claim`` and ``complete`` to name the execution.
"""

from async_toolformer.streams.redis.ledger.claims import (
    Acquired,
    Claim,
    Conflict,
    HeldElsewhere,
    Recorded,
)
from async_toolformer.streams.redis.ledger.exceptions import (
    LedgerConfigError,
    LedgerEntryError,
    LedgerError,
    LedgerUnavailableError,
)
from async_toolformer.streams.redis.ledger.keeper import LeaseKeeper
from async_toolformer.streams.redis.ledger.keys import call_key
from async_toolformer.streams.redis.ledger.ledger import ExecutionLedger
from async_toolformer.streams.redis.ledger.memory import InMemoryLedger
from async_toolformer.streams.redis.ledger.model import LedgerModel
from async_toolformer.streams.redis.ledger.protocol import Ledger

__all__ = [
    "Acquired",
    "Claim",
    "Conflict",
    "ExecutionLedger",
    "HeldElsewhere",
    "InMemoryLedger",
    "LeaseKeeper",
    "Ledger",
    "LedgerConfigError",
    "LedgerEntryError",
    "LedgerError",
    "LedgerModel",
    "LedgerUnavailableError",
    "Recorded",
    "call_key",
]
