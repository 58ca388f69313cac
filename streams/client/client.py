"""The async client: publish tool calls, get their results, cancel branches and sessions.

    async with ToolformerClient("localhost:9092") as client:
        results = await client.run([
            ToolCallRequested(call_id="c1", session_id="s1", tool="sleep", arguments={"ms": 300}),
            ToolCallRequested(call_id="c2", session_id="s1", tool="echo", arguments={"x": 1}),
        ])

Results are read only from the partition each session's key maps to, by one
follower per partition shared by every call batch of the client
(``streams/client/follower.py``), and deduplicated by ``call_id``: a worker that
died after publishing a result but before committing may publish it again, and
the caller sees it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

from async_toolformer.agents.tracing import TRACING, headers_for, sending
from async_toolformer.schemas import (
    DEFAULT_TENANT,
    BranchCancelled,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
    encode,
)
from async_toolformer.streams.client.demux import Waiter
from async_toolformer.streams.client.exceptions import published
from async_toolformer.streams.client.follower import TopicFollowers
from async_toolformer.streams.client.partitioning import partition_for
from async_toolformer.streams.client.reader import (
    ConsumerFactory,
    decode_result,
    reading_consumer,
)
from async_toolformer.streams.exceptions import ResultTimeoutError
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue


class ToolformerClient:
    """Publishes calls and cancellations; follows the result partitions of its sessions.

    ``follower_idle_s``: how long a partition's follower outlives its last
    waiter. ``consumer_factory`` makes the client's consumers (one per followed
    partition, plus one per history read by :meth:`follow`). ``security``: TLS and
    SASL of its producer and consumers (``KafkaSecurity.from_settings``).
    """

    def __init__(self, bootstrap_servers: str, *, topic_prefix: str = "toolformer.",
                 follower_idle_s: float = 10.0,
                 consumer_factory: ConsumerFactory | None = None,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap_servers
        self.topics = TopicCatalogue(topic_prefix)
        self._publisher = KafkaPublisher(bootstrap_servers, client_id="toolformer-client",
                                         security=security)
        self._followers = TopicFollowers(
            self.topics.results, decode_result,
            consumer_factory or functools.partial(reading_consumer, bootstrap_servers,
                                                  security=security),
            idle_s=follower_idle_s)
        self._partitions: int | None = None

    async def __aenter__(self) -> ToolformerClient:
        await self._publisher.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self._followers.close()
        await self._publisher.stop()

    async def submit(self, calls: Iterable[ToolCallRequested]) -> None:
        """Publish calls and return once the broker has all of them."""
        if TRACING.on:
            await self._submit_traced(list(calls))
            return
        deliveries = [
            await self._publisher.enqueue(self.topics.calls, call.session_id.encode(), encode(call))
            for call in calls
        ]
        await asyncio.gather(*deliveries)

    async def _submit_traced(self, calls: list[ToolCallRequested]) -> None:
        """``submit`` with a send span per call, its trace context in the record's headers."""
        topic = self.topics.calls
        spans = [sending(topic, {"gen_ai.tool.name": call.tool,
                                 "gen_ai.tool.call.id": call.call_id}) for call in calls]
        try:
            deliveries = [
                await self._publisher.enqueue(topic, call.session_id.encode(), encode(call),
                                              headers=headers_for(span))
                for call, span in zip(calls, spans, strict=True)]
            await asyncio.gather(*deliveries)
        finally:
            for span in spans:
                span.end()

    async def run(self, calls: Iterable[ToolCallRequested], *,
                  timeout_s: float = 60.0) -> list[ToolCallCompleted]:
        """Run calls in parallel; return their results in request order."""
        batch = list(calls)
        async with self._awaiting(batch) as futures:
            await self.submit(batch)
            try:
                async with asyncio.timeout(timeout_s):
                    return list(await asyncio.gather(*futures))
            except TimeoutError:
                raise self._timeout(batch, futures, timeout_s) from None

    async def stream(self, calls: Iterable[ToolCallRequested], *,
                     timeout_s: float = 60.0) -> AsyncIterator[ToolCallCompleted]:
        """Run calls in parallel; yield each result as soon as it arrives."""
        batch = list(calls)
        async with self._awaiting(batch) as futures:
            await self.submit(batch)
            try:
                async with asyncio.timeout(timeout_s):
                    for next_done in asyncio.as_completed(futures):
                        yield await next_done
            except TimeoutError:
                raise self._timeout(batch, futures, timeout_s) from None

    async def cancel_branch(self, session_id: str, branch_id: str,
                            reason: str = "cancelled by the client", *,
                            tenant: str = DEFAULT_TENANT) -> None:
        """Cancel a branch's calls (of ``tenant`` only: a cancellation names its tenant)."""
        event = BranchCancelled(session_id=session_id, branch_id=branch_id, reason=reason,
                                tenant=tenant)
        published(await self._publisher.publish(self.topics.cancellations, session_id.encode(),
                                                encode(event)),
                  self.topics.cancellations, f"the cancellation of branch {branch_id!r}")

    async def cancel_session(self, session_id: str,
                             reason: str = "cancelled by the client", *,
                             tenant: str = DEFAULT_TENANT) -> None:
        """Cancel a session's calls (of ``tenant`` only: a cancellation names its tenant)."""
        event = SessionCancelled(session_id=session_id, reason=reason, tenant=tenant)
        published(await self._publisher.publish(self.topics.cancellations, session_id.encode(),
                                                encode(event)),
                  self.topics.cancellations, f"the cancellation of session {session_id!r}")

    async def follow(self, session_id: str, *, follow: bool = True,
                     idle_s: float = 1.0) -> AsyncIterator[ToolCallCompleted]:
        """A session's results from the start of its partition, once per call_id.

        With ``follow=False`` it stops after ``idle_s`` seconds without a new result.
        """
        queue: asyncio.Queue[ToolCallCompleted] = asyncio.Queue()
        follower = self._followers.follower(
            partition_for(session_id, await self._partition_count()))
        waiter = await follower.subscribe(session_id.encode(), queue.put_nowait,
                                          from_beginning=True)
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
            follower.unsubscribe(waiter)

    @contextlib.asynccontextmanager
    async def _awaiting(self, batch: list[ToolCallRequested]
                        ) -> AsyncIterator[list[asyncio.Future[ToolCallCompleted]]]:
        """A future per call, resolved by the first result of its call_id (in request order).

        The batch's sessions are subscribed to before the caller publishes, so
        no result can come before its waiter (see ``follower.py``).
        """
        ids = [call.call_id for call in batch]
        if len(set(ids)) != len(ids):
            raise ValueError("call_id must be unique within one batch")
        loop = asyncio.get_running_loop()
        futures = {call_id: loop.create_future() for call_id in ids}

        def deliver(result: ToolCallCompleted) -> None:
            future = futures.get(result.call_id)
            if future is not None and not future.done():
                future.set_result(result)

        count = await self._partition_count() if batch else 1
        waiters: list[tuple[int, Waiter[ToolCallCompleted]]] = []
        try:
            for session_id in dict.fromkeys(call.session_id for call in batch):
                partition = partition_for(session_id, count)
                waiters.append((partition, await self._followers.follower(partition).subscribe(
                    session_id.encode(), deliver)))
            yield [futures[call_id] for call_id in ids]
        finally:
            for partition, waiter in waiters:
                self._followers.follower(partition).unsubscribe(waiter)
            for future in futures.values():
                if not future.done():
                    future.cancel()

    def _timeout(self, batch: list[ToolCallRequested],
                 futures: list[asyncio.Future[ToolCallCompleted]],
                 timeout_s: float) -> ResultTimeoutError:
        missing = [call.call_id for call, future in zip(batch, futures, strict=True)
                   if not future.done()]
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
