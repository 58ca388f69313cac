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
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TypeVar

from async_toolformer.agents.speculation.history import FeedReport, feed
from async_toolformer.agents.speculation.protocol import Predictor
from async_toolformer.schemas import SchemaError, ToolCallCompleted, ToolCallRequested, decode_as
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.log_reader import read_range
from async_toolformer.streams.ops.selection import RecordRange

logger = logging.getLogger(__name__)

E = TypeVar("E", ToolCallRequested, ToolCallCompleted)

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
    counts = _Counts()
    calls: list[ToolCallRequested] = []
    async with contextlib.aclosing(_decoded(
            bootstrap_servers, catalogue.calls, ToolCallRequested, wanted, counts,
            idle_s=idle_s, security=security)) as call_records:
        async for call, _ in call_records:
            if tenant is None or call.tenant == tenant:
                calls.append(call)
            if len(calls) >= max_records:
                counts.truncated = True
                break
    known = {(c.session_id, c.call_id) for c in calls}
    results: list[ToolCallCompleted] = []
    async with contextlib.aclosing(_decoded(
            bootstrap_servers, catalogue.results, ToolCallCompleted, wanted, counts,
            idle_s=idle_s, security=security)) as result_records:
        async for result, size in result_records:
            if (result.session_id, result.call_id) not in known:
                continue
            if size > max_output_bytes and result.output is not None:
                counts.dropped += 1
                results.append(result.model_copy(update={"output": None}))
            else:
                results.append(result)
    if counts.undecodable:
        logger.warning("speculation rebuild: %d records did not decode; skipped",
                       counts.undecodable)
    return RebuildReport(feed(predictor, calls, results), counts.undecodable, counts.dropped,
                         counts.truncated)


@dataclass(slots=True)
class _Counts:
    undecodable: int = 0
    dropped: int = 0
    truncated: bool = False


async def _decoded(bootstrap_servers: str, topic: str, model: type[E], wanted: RecordRange,
                   counts: _Counts, *, idle_s: float, security: KafkaSecurity
                   ) -> AsyncGenerator[tuple[E, int], None]:
    """Each record of ``topic`` in the range that decodes as ``model``, with its size;
    the others are counted in ``counts``."""
    records = read_range(bootstrap_servers, topic, wanted, idle_s=idle_s, security=security)
    async with contextlib.aclosing(records):
        async for batch in records:
            for record in batch:
                try:
                    event = decode_as(model, record.value)
                except SchemaError:
                    counts.undecodable += 1
                    continue
                yield event, len(record.value)
