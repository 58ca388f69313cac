"""Reading the first recorded results of the replayed calls while the copy still runs.

The live ``results`` are read from the start of the selected partitions (a
call's result is on the partition of its session, as its call is) alongside the
copy, so their reading costs no time of its own. Until the copy is done it is
not known which calls are wanted: a result of a call already read is kept, and
one of a call not (yet) read is held aside, up to ``hold`` of them. Once the copy
is done the held ones that are wanted are kept and the rest dropped; if reading
had to stop because too many were held (a small range out of a long log), the
calls still missing are read again afterwards, as :func:`collect_wires` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.ops.collector import call_id_of_result, collect_wires
from async_toolformer.streams.ops.log_reader import read_range
from async_toolformer.streams.ops.selection import RecordRange

__all__ = ["OldResults"]


class OldResults:
    """``start()`` with the copy, ``await wanted(call_ids)`` once it is done."""

    def __init__(self, bootstrap: str, topic: str, *, read: Collection[str],
                 partitions: tuple[int, ...] | None, idle_s: float, timeout_s: float,
                 security: KafkaSecurity = PLAINTEXT, hold: int = 200_000) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._read = read  # call_ids the copy has read so far (it grows)
        self._partitions = partitions
        self._idle_s = idle_s
        self._timeout_s = timeout_s
        self._security = security
        self._hold = hold
        self._found: dict[str, bytes] = {}
        self._held: dict[str, bytes] = {}
        self._wanted: Collection[str] | None = None
        self._overflowed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def wanted(self, call_ids: Collection[str], *, partitions: set[int]) -> dict[str, bytes]:
        """The first result of each of ``call_ids`` that the log holds."""
        self._wanted = call_ids
        for call_id, value in self._held.items():
            if call_id in call_ids:
                self._found.setdefault(call_id, value)
        self._held.clear()
        if self._task is not None:
            if not self._done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._task), self._timeout_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        found = {c: self._found[c] for c in call_ids if c in self._found}
        missing = [c for c in call_ids if c not in found]
        if missing and (self._overflowed or self._task is None):
            found.update(await collect_wires(
                self._bootstrap, self._topic, wanted=missing, partitions=partitions,
                idle_s=self._idle_s, timeout_s=self._timeout_s, security=self._security))
        return found

    async def stop(self) -> None:
        """Stop reading (a replay that failed)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _done(self) -> bool:
        wanted = self._wanted
        return wanted is not None and all(c in self._found for c in wanted)

    async def _run(self) -> None:
        records = read_range(self._bootstrap, self._topic,
                             RecordRange(partitions=self._partitions), idle_s=self._idle_s,
                             security=self._security)
        async with contextlib.aclosing(records):
            async for batch in records:
                for record in batch:
                    call_id = call_id_of_result(record.value)
                    if call_id is None or call_id in self._found:
                        continue
                    if call_id in self._read:
                        self._found[call_id] = record.value
                    elif self._wanted is None:
                        self._held.setdefault(call_id, record.value)
                if len(self._held) > self._hold:
                    self._overflowed = True
                    self._held.clear()
                    return
                if self._done():
                    return
