"""A session's results checked against the execution ledger (see
:mod:`async_toolformer.agents.sessions.result_check`).

A worker records a call's result under its fingerprint before it publishes it,
so a genuine result is in the ledger, byte for byte, by the time a session
reads it. A forged record (wrong bytes, or nothing recorded yet) and the result
of another execution that used the same call_id (another fingerprint) are not.
Results a worker publishes without recording them (a conflict, a refusal of a
record that did not decode, a result it could not record) are not taken either:
the session's branch or session deadline decides for those. Refusals of decoded
calls, cancellations and worker errors are recorded like any result.
"""

from __future__ import annotations

import logging

from async_toolformer.agents.executor.identity import call_fingerprint
from async_toolformer.schemas import ToolCallRequested
from async_toolformer.streams.redis.claim import retrying
from async_toolformer.streams.redis.ledger import Ledger, LedgerError, call_key

__all__ = ["LedgerResultCheck"]

logger = logging.getLogger(__name__)

_PATIENCE_S = 30.0


class LedgerResultCheck:
    """A :class:`~async_toolformer.agents.sessions.result_check.ResultCheck` over ``ledger``."""

    def __init__(self, ledger: Ledger, *, patience_s: float = _PATIENCE_S) -> None:
        self._ledger = ledger
        self._patience_s = patience_s

    async def genuine(self, request: ToolCallRequested, wire: bytes) -> bool:
        key = call_key(request.call_id)
        try:
            entry = await retrying(lambda: self._ledger.entry(key), patience_s=self._patience_s)
        except LedgerError as exc:
            logger.warning("could not check the result of %s against the ledger (%s); "
                           "it is not taken", request.call_id[:256], exc)
            return False
        if entry is None:
            return False
        fingerprint, recorded = entry
        return fingerprint == call_fingerprint(request) and recorded == wire
