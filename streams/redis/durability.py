"""Whether this Redis can keep the execution ledger: persistence and eviction, checked at start.

The ledger's promise (no tool run twice by our doing) holds only while its keys
do. A Redis without persistence loses every claim and record when it restarts;
one that evicts keys under memory pressure (any ``maxmemory-policy`` but
``noeviction``: the ledger's keys all carry a TTL, so the ``volatile-*``
policies take them too) can drop a live claim. Either way a redelivered call
then looks new and runs again. The worker still starts, and says so once.

Managed Redis services often disable ``CONFIG``; the check then notes that it
could not look and what to make sure of by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["durability_warnings", "warn_if_ledger_fragile"]

logger = logging.getLogger(__name__)

_CHECK_TIMEOUT_S = 5.0


async def durability_warnings(redis: Redis) -> list[str]:
    """What may lose or evict ledger entries on ``redis``, one sentence each; [] if nothing.

    Raises :class:`redis.exceptions.ResponseError` if ``CONFIG GET`` is refused.
    """
    config = _as_text(await redis.config_get("appendonly"))
    config.update(_as_text(await redis.config_get("save")))
    config.update(_as_text(await redis.config_get("maxmemory-policy")))
    warnings: list[str] = []
    aof = config.get("appendonly", "no") == "yes"
    snapshots = config.get("save", "").strip() != ""
    if not aof and not snapshots:
        warnings.append(
            "Redis has no persistence (appendonly no, save \"\"): a restart loses every "
            "ledger claim and result, and redelivered calls run again. Set appendonly yes.")
    elif not aof:
        warnings.append(
            "Redis persists by snapshots only (appendonly no): a crash loses the ledger "
            "claims and results written since the last snapshot. Set appendonly yes.")
    policy = config.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        warnings.append(
            f"Redis evicts keys under memory pressure (maxmemory-policy {policy}): a "
            "ledger claim or result can vanish and its call run again. Set "
            "maxmemory-policy noeviction.")
    return warnings


async def warn_if_ledger_fragile(redis: Redis, *, timeout_s: float = _CHECK_TIMEOUT_S
                                 ) -> list[str]:
    """Log what :func:`durability_warnings` finds (or why it could not look); return it."""
    try:
        async with asyncio.timeout(timeout_s):
            warnings = await durability_warnings(redis)
    except (RedisError, OSError, TimeoutError) as exc:
        note = (f"could not check whether Redis keeps the execution ledger ({exc}); CONFIG "
                "may be disabled, as on managed Redis. Make sure it persists (appendonly "
                "yes) and never evicts (maxmemory-policy noeviction), or a redelivered call "
                "can run again.")
        logger.warning(note)
        return [note]
    for warning in warnings:
        logger.warning(warning)
    return warnings


def _as_text(reply: Mapping[Any, Any]) -> dict[str, str]:
    """CONFIG GET's reply as str, whether the client decodes responses or not."""
    return {_text(key): _text(value) for key, value in reply.items()}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
