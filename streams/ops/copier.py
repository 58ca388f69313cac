"""Copying the selected calls to a replay, answering those already recorded from the ledger.

A worker serving a replay against the live ledger answers every recorded call
by re-publishing its record, byte for byte (``Recorded``), and runs nothing. The
copier does the same without the round trip through the replay's ``calls`` and
a worker: for each batch read it asks the ledger for all the batch's records in
one round trip (:meth:`ExecutionLedger.entries_many`) and publishes them to the
replay's ``results`` as producer batches, keyed by session as a worker keys
them. Only calls without a record (still leased, never recorded, or expired) are
copied to the replay's ``calls`` for a worker; ``--fresh`` copies every call.

A call answered here is checked only for its shape (its ``type``, ``call_id`` and
``session_id``) and for being the execution the record is of (the fingerprint
kept with the record: tenant, session, tool and arguments, as a claim checks
it): a worker validated that call when it first ran. A call without a matching
record is copied to a worker, validated in full, and answered there (a record of
another execution is a ``Conflict``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from async_toolformer.agents.executor.identity import fingerprint_of
from async_toolformer.schemas import DEFAULT_TENANT, SchemaError, ToolCallRequested, decode_as
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.ops.log_reader import LogRecord, read_range
from async_toolformer.streams.ops.plan import ReplayPlan
from async_toolformer.streams.ops.report import ReplayObserver, ReplayReport
from async_toolformer.streams.ops.selection import RecordRange
from async_toolformer.streams.redis.ledger import ExecutionLedger, call_key

__all__ = ["CopiedCalls", "copy_calls"]

# Publishes of re-emitted results in flight at once, while the next batch is read.
_PUBLISHING = 4


@dataclass(frozen=True, slots=True)
class _Call:
    record: LogRecord
    call_id: str
    session_id: str
    fields: dict[str, Any]  # as parsed, not validated

    def fingerprint(self) -> str | None:
        """The execution it names, as a worker's claim computes it (from the validated
        request: a field validation would change only makes this differ, and then a
        worker decides)."""
        f = self.fields
        arguments, tool, tenant = (f.get("arguments", {}), f.get("tool"),
                                   f.get("tenant", DEFAULT_TENANT))
        if not (isinstance(arguments, dict) and isinstance(tool, str)
                and isinstance(tenant, str)):
            return None  # not a call a worker would take: a worker decides
        return fingerprint_of(tenant, self.session_id, tool, arguments)


@dataclass
class CopiedCalls:
    """What the copy did: every distinct call_id in order, and who answers each."""

    call_ids: dict[str, None] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    reemitted: dict[str, bytes] = field(default_factory=dict)  # call_id -> record published
    to_workers: dict[str, None] = field(default_factory=dict)  # copied to the replay's calls

    def note(self, call: _Call, report: ReplayReport) -> None:
        if call.call_id in self.call_ids:
            report.repeated_call_ids += 1
        self.call_ids[call.call_id] = None
        self.sessions.add(call.session_id)


async def copy_calls(bootstrap: str, plan: ReplayPlan, selection: RecordRange, *,
                     idle_s: float, report: ReplayReport, seen: ReplayObserver,
                     ledger: ExecutionLedger | None,
                     on_copied: Callable[[], None] = lambda: None,
                     into: CopiedCalls | None = None,
                     security: KafkaSecurity = PLAINTEXT) -> CopiedCalls:
    """Copy ``selection`` of the source ``calls``; answer the recorded ones from ``ledger``.

    ``on_copied`` is told before the first call goes to the replay's ``calls``
    (so a worker can be started only when one is needed); ``into`` is filled as
    the copy goes (others may watch it grow), else a new one.
    """
    copied = into if into is not None else CopiedCalls()
    publishing: set[asyncio.Task[None]] = set()
    async with KafkaPublisher(bootstrap, client_id="toolformer-replay",
                              security=security) as publisher:
        records = read_range(bootstrap, plan.source.calls, selection, idle_s=idle_s,
                             security=security)
        async with contextlib.aclosing(records), _cancelling(publishing):
            async for batch in records:
                calls = _shapes_of(batch, report)
                stored = (await ledger.entries_many([call_key(c.call_id) for c in calls])
                          if ledger is not None else [None] * len(calls))
                answers: list[tuple[bytes | None, bytes]] = []
                unrecorded: list[_Call] = []
                for call, entry in zip(calls, stored, strict=True):
                    if entry is None or entry[0] != call.fingerprint():
                        # no record, or another execution's (a worker answers Conflict)
                        if _valid(call, report):
                            unrecorded.append(call)
                            copied.note(call, report)
                    else:
                        record = entry[1]
                        answers.append((call.session_id.encode(), record))
                        copied.note(call, report)
                        copied.reemitted.setdefault(call.call_id, record)
                await _copy_to_workers(publisher, plan, unrecorded, copied, on_copied)
                if answers:
                    while len(publishing) >= _PUBLISHING:
                        await asyncio.wait(publishing, return_when=asyncio.FIRST_COMPLETED)
                    task = asyncio.create_task(_reemit(publisher, plan, answers, copied))
                    publishing.add(task)
                    task.add_done_callback(publishing.discard)
                seen.copied(len(batch))
            await asyncio.gather(*publishing)
    return copied


@contextlib.asynccontextmanager
async def _cancelling(tasks: set[asyncio.Task[None]]) -> AsyncIterator[None]:
    """Cancel the publishes still running when the copy fails."""
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


def _shapes_of(batch: list[LogRecord], report: ReplayReport) -> list[_Call]:
    """The batch's calls by their ids; records that are not calls are counted and dropped."""
    calls: list[_Call] = []
    for record in batch:
        report.records_read += 1
        ids = _ids_of(record.value)
        if ids is None:
            report.not_calls += 1
        else:
            calls.append(_Call(record, *ids))
    return calls


def _valid(call: _Call, report: ReplayReport) -> bool:
    """Whether a worker would take the call (one shaped like a call may still not be)."""
    try:
        decode_as(ToolCallRequested, call.record.value)
    except SchemaError:
        report.not_calls += 1
        return False
    return True


def _ids_of(value: bytes) -> tuple[str, str, dict[str, Any]] | None:
    """(call_id, session_id, fields) of a record shaped like a call, else None."""
    try:
        data: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type", "tool_call_requested") != \
            "tool_call_requested":
        return None
    call_id, session_id = data.get("call_id"), data.get("session_id")
    if isinstance(call_id, str) and call_id and isinstance(session_id, str) and session_id:
        return call_id, session_id, data
    return None


async def _copy_to_workers(publisher: KafkaPublisher, plan: ReplayPlan, calls: list[_Call],
                           copied: CopiedCalls, on_copied: Callable[[], None]) -> None:
    """Copy calls without a record, byte for byte and partition for partition."""
    if not calls:
        return
    if not copied.to_workers:
        on_copied()
    deliveries = []
    for call in calls:
        copied.to_workers[call.call_id] = None
        record = call.record
        deliveries.append(await publisher.enqueue(plan.target.calls, record.key, record.value,
                                                  partition=record.partition))
    await asyncio.gather(*deliveries)


async def _reemit(publisher: KafkaPublisher, plan: ReplayPlan,
                  answers: list[tuple[bytes | None, bytes]], copied: CopiedCalls) -> None:
    """Publish recorded results to the replay's ``results``; a refused one has no new result."""
    refused = await publisher.publish_many(plan.target.results, answers)
    if refused:
        gone = {id(value) for _, value in refused}
        for call_id, value in list(copied.reemitted.items()):
            if id(value) in gone:
                del copied.reemitted[call_id]
