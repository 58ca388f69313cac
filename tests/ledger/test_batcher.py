"""Requests made in one loop tick travel together; errors reach every waiter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from async_toolformer.streams.redis.ledger._batcher import MicroBatcher


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def flush(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)
        if self.fail:
            raise RuntimeError("redis fell over")
        return [item * 10 for item in items]


async def test_requests_of_one_tick_share_a_batch_in_order() -> None:
    rec = Recorder()
    batcher = MicroBatcher(rec.flush)
    answers = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert answers == [0, 10, 20, 30, 40]
    assert rec.batches == [[0, 1, 2, 3, 4]]
    assert batcher.batches_sent == 1


async def test_full_batch_goes_at_once_and_the_rest_follows() -> None:
    rec = Recorder()
    batcher = MicroBatcher(rec.flush, max_batch=2)
    answers = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert answers == [0, 10, 20, 30, 40]
    assert rec.batches == [[0, 1], [2, 3], [4]]


async def test_sequential_requests_each_go_alone() -> None:
    rec = Recorder()
    batcher = MicroBatcher(rec.flush)
    assert await batcher.submit(1) == 10
    assert await batcher.submit(2) == 20
    assert rec.batches == [[1], [2]]


async def test_a_failed_batch_fails_every_request_in_it() -> None:
    batcher = MicroBatcher(Recorder(fail=True).flush)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_cancelled_waiter_does_not_disturb_the_others() -> None:
    rec = Recorder()
    batcher = MicroBatcher(rec.flush)
    doomed = asyncio.ensure_future(batcher.submit(1))
    kept = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await kept == 20
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_drain_waits_for_queued_batches() -> None:
    rec = Recorder()
    batcher = MicroBatcher(rec.flush)
    pending = asyncio.ensure_future(batcher.submit(3))
    await asyncio.sleep(0)
    await batcher.drain()
    assert pending.done()
    assert await pending == 30
