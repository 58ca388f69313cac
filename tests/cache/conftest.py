"""Executors with the ledger and the result cache on the session's real Redis.

Each test's executors share a fresh namespace (ledger and cache), like workers of
one deployment; the pipeline tests reuse the pipeline folder's worker factory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest_asyncio
from redis.asyncio import Redis

from async_toolformer.agents.executor import CallExecutor, Sealed, admit
from async_toolformer.agents.executor.intake import Admission
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import ToolCallRequested, encode
from async_toolformer.streams.redis.call_guard import LedgerGuard
from async_toolformer.streams.redis.ledger import ExecutionLedger
from async_toolformer.streams.redis.result_cache import ResultCache
from async_toolformer.streams.redis.result_cache_metrics import ResultCacheMetrics
from tests.pipeline.conftest import pipeline_factory  # noqa: F401  (a fixture)

CACHE_TOOLS = "tests.cache.cache_tools"
TOOLS = load_tools([CACHE_TOOLS])


@dataclass
class Node:
    """One executor, as a worker would compose it: ledger, cache, guard."""

    executor: CallExecutor
    guard: LedgerGuard
    cache: ResultCache
    published: list[Sealed] = field(default_factory=list)

    async def run(self, requests: list[ToolCallRequested]) -> list[Sealed]:
        """Submit the calls as one fetch; their published results, in order."""
        admissions = [_admission(r) for r in requests]
        for _ in admissions:
            await self.executor.reserve()
        futures = self.executor.submit_batch(admissions, received_at=datetime.now(UTC))
        return [await f for f in futures]

    async def run_alone(self, request: ToolCallRequested) -> Sealed:
        """Submit one call on its own task (``guard``'s path)."""
        admission = _admission(request)
        await self.executor.reserve()
        return await self.executor.submit(admission.request, admission.spec,
                                          admission.arguments, received_at=datetime.now(UTC))


def _admission(request: ToolCallRequested) -> Admission:
    admitted = admit(encode(request), request.session_id.encode(), TOOLS, max_bytes=1_048_576)
    assert isinstance(admitted, Admission), admitted
    return admitted


NodeFactory = Callable[..., Awaitable[Node]]


@pytest_asyncio.fixture(loop_scope="session")
async def cache_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def node_factory(cache_redis: Redis) -> AsyncIterator[NodeFactory]:
    """``node(namespace=..., cache_redis=..., **cache_options)``: an executor over a ledger and
    a cache; nodes of one test share a namespace unless told otherwise."""
    namespace = f"cache-{uuid.uuid4().hex[:10]}"
    made: list[Node] = []

    async def make(*, worker: str | None = None, cache_client: Redis | None = None,
                   limiter: Any = None, **options: Any) -> Node:
        ledger = ExecutionLedger(cache_redis, namespace=namespace, lease_ms=2_000)
        cache = ResultCache(cache_client or cache_redis, namespace=namespace,
                            metrics=ResultCacheMetrics(), **options)
        worker_id = worker or f"w{len(made)}"
        guard = LedgerGuard(ledger, limiter, worker_id=worker_id)
        guard.use_cache(cache, TOOLS)
        node = Node(CallExecutor(worker_id=worker_id, sink=_noop, guard=guard), guard, cache)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.executor.close()
    keys = [k async for k in cache_redis.scan_iter(match=f"*{namespace}*", count=1000)]
    if keys:
        await cache_redis.delete(*keys)


async def _noop(sealed: Sealed) -> None:
    return None


def token() -> str:
    """A fresh run counter name."""
    return uuid.uuid4().hex[:12]


def call(tool: str, *, call_id: str | None = None, tenant: str = "t1",
         session_id: str = "s1", **arguments: Any) -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id or uuid.uuid4().hex, session_id=session_id,
                             tool=tool, tenant=tenant, arguments=arguments)
