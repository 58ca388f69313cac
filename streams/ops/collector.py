"""Gathering the results of a set of calls from a ``results`` topic, first one per call_id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as
from async_toolformer.streams.ops.log_reader import read_range
from async_toolformer.streams.ops.selection import RecordRange

logger = logging.getLogger(__name__)


async def collect_results(bootstrap_servers: str, topic: str, *,
                          wanted: Collection[str] | None = None,
                          partitions: Iterable[int] | None = None,
                          idle_s: float | None = 1.5, timeout_s: float = 60.0,
                          on_result: Callable[[ToolCallCompleted], None] | None = None,
                          ) -> dict[str, ToolCallCompleted]:
    """The first result per call_id (of ``wanted``, or all), read from the start of ``topic``.

    Stops once every wanted call has a result, after ``idle_s`` without a new
    record (``None``: never idle out, for results still being produced), or at
    ``timeout_s``; what was found by then is returned, so callers see what is missing.
    """
    selection = RecordRange(partitions=tuple(sorted(set(partitions)))
                            if partitions is not None else None)
    want = set(wanted) if wanted is not None else None
    found: dict[str, ToolCallCompleted] = {}
    if want is not None and not want:
        return found

    async def read() -> None:
        records = read_range(bootstrap_servers, topic, selection,
                             idle_s=idle_s if idle_s is not None else timeout_s + 1)
        async with contextlib.aclosing(records):
            async for batch in records:
                for record in batch:
                    try:
                        result = decode_as(ToolCallCompleted, record.value)
                    except SchemaError:
                        logger.warning("%s[%d]@%d is not a result; skipped", topic,
                                       record.partition, record.offset)
                        continue
                    if result.call_id in found or (want is not None
                                                   and result.call_id not in want):
                        continue
                    found[result.call_id] = result
                    if on_result is not None:
                        on_result(result)
                if want is not None and len(found) == len(want):
                    return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout_s)
    return found
