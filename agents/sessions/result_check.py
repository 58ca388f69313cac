"""Whether a result read from ``results`` is the one the session's own call produced.

Anyone who can write to ``results`` can write a record with a session's key and
one of its call ids (they are predictable: ``{session}:{turn}:{index}``). A
session loop therefore hands a result to its model only once a
:class:`ResultCheck` says it comes from the execution its own call started.
The worker's check reads the execution ledger (``streams/redis/result_check.py``):
the entry of the call must carry the fingerprint of the session's request and
hold exactly the bytes received. Without a ledger there is nothing to check
against, and results are taken as they come (a single-tenant deployment).
"""

from __future__ import annotations

from typing import Protocol

from async_toolformer.schemas import ToolCallRequested

__all__ = ["ResultCheck"]


class ResultCheck(Protocol):
    async def genuine(self, request: ToolCallRequested, wire: bytes) -> bool:
        """True if ``wire`` is the result of the execution ``request`` started."""
        ...
