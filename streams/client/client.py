"""The async client: publish tool calls, get their results, cancel branches and sessions.

    async with ToolformerClient("localhost:9092") as client:
        results = await client.run([
            ToolCallRequested(call_id="c1", session_id="s1", tool="sleep", arguments={"ms": 300}),
            ToolCallRequested(call_id="c2", session_id="s1", tool="echo", arguments={"x": 1}),
        ])

Results are read only from the partition each session's key maps to, and
deduplicated by ``call_id``: a worker that died after publishing a result but
before committing may publish it again, and the caller sees it once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

from async_toolformer.schemas import (
    BranchCancelled,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
    encode,
)
from async_toolformer.streams.client.partitioning import partition_for
from async_toolformer.streams.client.reader import PartitionReader, decode_result
from async_toolformer.streams.exceptions import ResultTimeoutError
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.topics import TopicCatalogue


class ToolformerClient:
    """Publishes calls and cancellations; follows the result partitions of its sessions."""

    def __init__(self, bootstrap_servers: str, *, topic_prefix: str = "toolformer.") -> None:
        self._bootstrap = bootstrap_servers
        self.topics = TopicCatalogue(topic_prefix)
        self._publisher = KafkaPublisher(bootstrap_servers, client_id="toolformer-client")
        self._readers: dict[int, PartitionReader[ToolCallCompleted]] = {}
        self._reader_lock = asyncio.Lock()
        self._waiters: dict[str, asyncio.Future[ToolCallCompleted]] = {}
        self._partitions: int | None = None

    async def __aenter__(self) -> ToolformerClient:
        await self._publisher.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        for reader in self._readers.values():
            await reader.stop()
        self._readers.clear()
        await self._publisher.stop()

    async def submit(self, calls: Iterable[ToolCallRequested]) -> None:
        """Publish calls and return once the broker has all of them."""
        deliveries = [
            await self._publisher.enqueue(self.topics.calls, call.session_id.encode(), encode(call))
            for call in calls
        ]
        await asyncio.gather(*deliveries)

    async def run(self, calls: Iterable[ToolCallRequested], *,
                  timeout_s: float = 60.0) -> list[ToolCallCompleted]:
        """Run calls in parallel; return their results in request order."""
        batch = list(calls)
        futures = await self._dispatch(batch)
        try:
            async with asyncio.timeout(timeout_s):
                return list(await asyncio.gather(*futures))
        except TimeoutError:
            raise self._timeout(batch, timeout_s) from None
        finally:
            self._abandon(batch)

    async def stream(self, calls: Iterable[ToolCallRequested], *,
                     timeout_s: float = 60.0) -> AsyncIterator[ToolCallCompleted]:
        """Run calls in parallel; yield each result as soon as it arrives."""
        batch = list(calls)
        futures = await self._dispatch(batch)
        try:
            async with asyncio.timeout(timeout_s):
                for next_done in asyncio.as_completed(futures):
                    yield await next_done
        except TimeoutError:
            raise self._timeout(batch, timeout_s) from None
        finally:
            self._abandon(batch)

    async def cancel_branch(self, session_id: str, branch_id: str,
                            reason: str = "cancelled by the client") -> None:
        event = BranchCancelled(session_id=session_id, branch_id=branch_id, reason=reason)
        await self._publisher.publish(self.topics.cancellations, session_id.encode(),
                                      encode(event))

    async def cancel_session(self, session_id: str,
                             reason: str = "cancelled by the client") -> None:
        event = SessionCancelled(session_id=session_id, reason=reason)
        await self._publisher.publish(self.topics.cancellations, session_id.encode(),
                                      encode(event))

    async def follow(self, session_id: str, *, follow: bool = True,
                     idle_s: float = 1.0) -> AsyncIterator[ToolCallCompleted]:
        """A session's results from the start of its partition, once per call_id.

        With ``follow=False`` it stops after ``idle_s`` seconds without a new result.
        """
        queue: asyncio.Queue[ToolCallCompleted] = asyncio.Queue()
        partition = partition_for(session_id, await self._partition_count())
        reader = PartitionReader(self._bootstrap, self.topics.results, partition,
                                 queue.put_nowait, decode=decode_result, from_beginning=True)
        await reader.start()
        seen: set[str] = set()
        try:
            while True:
                try:
                    result = await (queue.get() if follow else
                                    asyncio.wait_for(queue.get(), idle_s))
                except TimeoutError:
                    return
                if result.session_id == session_id and result.call_id not in seen:
                    seen.add(result.call_id)
                    yield result
        finally:
            await reader.stop()

    async def _dispatch(self, batch: list[ToolCallRequested]
                        ) -> list[asyncio.Future[ToolCallCompleted]]:
        ids = [call.call_id for call in batch]
        if len(set(ids)) != len(ids):
            raise ValueError("call_id must be unique within one batch")
        loop = asyncio.get_running_loop()
        futures = []
        for call in batch:
            future = self._waiters.get(call.call_id)
            if future is None:
                future = self._waiters[call.call_id] = loop.create_future()
            futures.append(future)
        count = await self._partition_count()
        for partition in {partition_for(call.session_id, count) for call in batch}:
            await self._ensure_reader(partition)
        await self.submit(batch)
        return futures

    async def _ensure_reader(self, partition: int) -> None:
        async with self._reader_lock:
            if partition not in self._readers:
                reader = PartitionReader(self._bootstrap, self.topics.results, partition,
                                         self._deliver, decode=decode_result)
                await reader.start()
                self._readers[partition] = reader

    def _deliver(self, result: ToolCallCompleted) -> None:
        future = self._waiters.get(result.call_id)
        if future is not None and not future.done():
            future.set_result(result)

    def _abandon(self, batch: list[ToolCallRequested]) -> None:
        for call in batch:
            future = self._waiters.pop(call.call_id, None)
            if future is not None and not future.done():
                future.cancel()

    def _timeout(self, batch: list[ToolCallRequested], timeout_s: float) -> ResultTimeoutError:
        missing = [c.call_id for c in batch
                   if not (f := self._waiters.get(c.call_id)) or not f.done()]
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        return ResultTimeoutError(
            f"{len(missing)} of {len(batch)} results did not arrive within {timeout_s:g}s "
            f"({shown}). Is a worker running (toolformer worker / toolformer dev) on the "
            f"same topics ({self.topics.prefix}*)?"
        )

    async def _partition_count(self) -> int:
        if self._partitions is None:
            with contextlib.suppress(Exception):
                parts = await self._publisher.partitions_of(self.topics.results)
                self._partitions = len(parts)
            if not self._partitions:
                raise ResultTimeoutError(
                    f"topic {self.topics.results} does not exist; start a worker or "
                    "`toolformer dev` first, which create the topics")
        return self._partitions
