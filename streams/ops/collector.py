"""Gathering the results of a set of calls from a ``results`` topic, first one per call_id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any

import orjson

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.ops.log_reader import read_range
from async_toolformer.streams.ops.selection import RecordRange

logger = logging.getLogger(__name__)


async def collect_wires(bootstrap_servers: str, topic: str, *,
                        wanted: Collection[str] | None = None,
                        partitions: Iterable[int] | None = None,
                        idle_s: float | None = 1.5, timeout_s: float = 60.0,
                        on_result: Callable[[str], None] | None = None,
                        security: KafkaSecurity = PLAINTEXT) -> dict[str, bytes]:
    """The first result per call_id (of ``wanted``, or all), as its bytes, from the start.

    Stops once every wanted call has a result, at the end of the topic as it was
    when read (``idle_s=None``: never, for results still being produced; then
    only at ``timeout_s``), after ``idle_s`` of waiting for the broker in vain,
    or at ``timeout_s``; what was found by then is returned, so callers see what
    is missing. Records are only parsed, not validated (callers decode those they
    use): one that is not shaped like a result is skipped with a warning.
    """
    selection = RecordRange(partitions=tuple(sorted(set(partitions)))
                            if partitions is not None else None)
    want = set(wanted) if wanted is not None else None
    found: dict[str, bytes] = {}
    if want is not None and not want:
        return found

    async def read() -> None:
        records = read_range(bootstrap_servers, topic, selection,
                             idle_s=idle_s if idle_s is not None else timeout_s + 1,
                             follow=idle_s is None, security=security)
        async with contextlib.aclosing(records):
            async for batch in records:
                for record in batch:
                    call_id = call_id_of_result(record.value)
                    if call_id is None:
                        logger.warning("%s[%d]@%d is not a result; skipped", topic,
                                       record.partition, record.offset)
                        continue
                    if call_id in found or (want is not None and call_id not in want):
                        continue
                    found[call_id] = record.value
                    if on_result is not None:
                        on_result(call_id)
                if want is not None and len(found) == len(want):
                    return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout_s)
    return found


async def collect_results(bootstrap_servers: str, topic: str, *,
                          wanted: Collection[str] | None = None,
                          partitions: Iterable[int] | None = None,
                          idle_s: float | None = 1.5, timeout_s: float = 60.0,
                          security: KafkaSecurity = PLAINTEXT,
                          ) -> dict[str, ToolCallCompleted]:
    """:func:`collect_wires`, each result decoded; one that does not decode is skipped."""
    found: dict[str, ToolCallCompleted] = {}
    for call_id, wire in (await collect_wires(
            bootstrap_servers, topic, wanted=wanted, partitions=partitions, idle_s=idle_s,
            timeout_s=timeout_s, security=security)).items():
        try:
            found[call_id] = decode_as(ToolCallCompleted, wire)
        except SchemaError as exc:
            logger.warning("the result of %s on %s does not decode (%s); skipped", call_id,
                           topic, exc)
    return found


def call_id_of_result(value: bytes) -> str | None:
    """The call_id of a record shaped like a result (parsed, not validated), else None."""
    try:
        data: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") != "tool_call_completed":
        return None
    call_id = data.get("call_id")
    return call_id if isinstance(call_id, str) and call_id else None
