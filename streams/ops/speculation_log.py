"""Rebuilding a speculation predictor from the event log (the ``calls`` and ``results`` topics).

A worker starts with no model, or with one rebuilt here: every session in the
range is read from both topics and fed to the predictor as it ran
(:func:`~async_toolformer.agents.speculation.history.feed`), so the model is what
online learning over the same sessions would have built. Reading is bounded:
at most ``max_records`` calls, and a result's output is dropped (the result still
ends its call) once its record is over ``max_output_bytes``; records that do not
decode are skipped and counted.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from async_toolformer.agents.speculation.history import FeedReport, feed
from async_toolformer.agents.speculation.protocol import Predictor
from async_toolformer.schemas import SchemaError, ToolCallCompleted, ToolCallRequested, decode_as
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.log_reader import read_range
from async_toolformer.streams.ops.selection import RecordRange

logger = logging.getLogger(__name__)

MAX_RECORDS = 1_000_000
MAX_OUTPUT_BYTES = 1_048_576


@dataclass(slots=True)
class RebuildReport:
    """What a rebuild read and fed."""

    fed: FeedReport
    undecodable: int = 0
    outputs_dropped: int = 0
    truncated: bool = False
    """``max_records`` calls were read before the range ended; later sessions were left out."""


async def rebuild(predictor: Predictor, bootstrap_servers: str, *,
                  topics: TopicCatalogue | None = None,
                  selection: RecordRange | None = None, tenant: str | None = None,
                  max_records: int = MAX_RECORDS, max_output_bytes: int = MAX_OUTPUT_BYTES,
                  idle_s: float = 1.5, security: KafkaSecurity = PLAINTEXT) -> RebuildReport:
    """Feed ``predictor`` every session of the range (of ``tenant`` only, if given)."""
    catalogue = topics or TopicCatalogue()
    wanted = selection or RecordRange()
    calls: list[ToolCallRequested] = []
    undecodable = 0
    truncated = False
    records = read_range(bootstrap_servers, catalogue.calls, wanted, idle_s=idle_s,
                         security=security)
    async with contextlib.aclosing(records):
        async for batch in records:
            for record in batch:
                try:
                    call = decode_as(ToolCallRequested, record.value)
                except SchemaError:
                    undecodable += 1
                    continue
                if tenant is None or call.tenant == tenant:
                    calls.append(call)
            if len(calls) >= max_records:
                truncated = True
                break
    known = {(c.session_id, c.call_id) for c in calls}
    results: list[ToolCallCompleted] = []
    dropped = 0
    records = read_range(bootstrap_servers, catalogue.results, wanted, idle_s=idle_s,
                         security=security)
    async with contextlib.aclosing(records):
        async for batch in records:
            for record in batch:
                try:
                    result = decode_as(ToolCallCompleted, record.value)
                except SchemaError:
                    undecodable += 1
                    continue
                if (result.session_id, result.call_id) not in known:
                    continue
                if len(record.value) > max_output_bytes and result.output is not None:
                    result = result.model_copy(update={"output": None})
                    dropped += 1
                results.append(result)
    if undecodable:
        logger.warning("speculation rebuild: %d records did not decode; skipped", undecodable)
    return RebuildReport(feed(predictor, calls, results), undecodable, dropped, truncated)
