"""The inputs of dependent calls as the execution ledger recorded them (the executor's
:class:`~async_toolformer.agents.executor.dependencies.RecordedInputs` port)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as

from .ledger import ExecutionLedger
from .ledger.keys import call_key

__all__ = ["LedgerInputs"]

logger = logging.getLogger(__name__)


class LedgerInputs:
    """Reads recorded results in one round trip; a record that is not a result reads None."""

    def __init__(self, ledger: ExecutionLedger) -> None:
        self._ledger = ledger

    async def recorded(self, call_ids: Sequence[str]) -> list[ToolCallCompleted | None]:
        found: list[ToolCallCompleted | None] = []
        wires = await self._ledger.read_many([call_key(c) for c in call_ids])
        for call_id, wire in zip(call_ids, wires, strict=True):
            if wire is None:
                found.append(None)
                continue
            try:
                found.append(decode_as(ToolCallCompleted, wire))
            except SchemaError:
                logger.warning("the ledger record of %s is not a result; not taken as an input",
                               call_id)
                found.append(None)
        return found
