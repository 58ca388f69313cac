"""Where each kind of work lives in the ledger: tool calls and model turns apart.

A tool call's entry is ``call:<call_id>``; a model turn's is
``llm:<session>:<turn>:<attempt>`` (:func:`~async_toolformer.streams.redis.turn_guard.turn_key`).
A producer picks its call_ids freely, so without the prefix a call_id
``llm:s:0:1`` would be the entry of a session's turn. Call ids are one space
across tenants: the entry's fingerprint names the tenant, so another tenant's
reuse of a call_id is a conflict, not an answer.
"""

from __future__ import annotations

__all__ = ["CALL_PREFIX", "call_key"]

CALL_PREFIX = "call:"


def call_key(call_id: str) -> str:
    """The ledger entry of tool call ``call_id``."""
    return CALL_PREFIX + call_id
