"""CancellationRecall: cancellations saved by partition and loaded once per assignment."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from async_toolformer.agents.executor import CancellationBook
from async_toolformer.agents.executor.kept_cancellations import (
    CancellationRecall,
    CancellationStoreUnavailableError,
)
from async_toolformer.schemas import BranchCancelled, Cancellation, SessionCancelled


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class MemoryStore:
    """Partition -> cancellations with seconds left; ``down`` answers nothing for n loads."""

    def __init__(self) -> None:
        self.kept: dict[int, list[tuple[Cancellation, float]]] = {}
        self.loads: list[int] = []
        self.down = 0
        self.broken = False

    async def save(self, partition: int, cancellation: Cancellation, ttl_s: float) -> None:
        if self.down:
            raise CancellationStoreUnavailableError("connection refused")
        self.kept.setdefault(partition, []).append((cancellation, ttl_s))

    async def load(self, partition: int) -> Sequence[tuple[Cancellation, float]]:
        self.loads.append(partition)
        await asyncio.sleep(0)
        if self.broken:
            raise ValueError("WRONGTYPE")
        if self.down:
            self.down -= 1
            raise CancellationStoreUnavailableError("connection refused")
        return list(self.kept.get(partition, ()))


async def test_a_new_owner_loads_what_the_last_owner_kept() -> None:
    store = MemoryStore()
    first = CancellationRecall(CancellationBook(), store)
    await first.keep(3, BranchCancelled(session_id="s", branch_id="b", reason="lost the race"))
    book = CancellationBook()
    second = CancellationRecall(book, store)
    assert book.reason("s", "b") is None

    await second.ready({3, 5})

    assert book.reason("s", "b") == "lost the race"
    assert book.reason("s", "other") is None
    await second.ready({3, 5})
    assert sorted(store.loads) == [3, 5]  # once per partition, not per fetch


async def test_a_revoked_partition_is_loaded_again_when_it_comes_back() -> None:
    store = MemoryStore()
    book = CancellationBook()
    recall = CancellationRecall(book, store)
    await recall.ready({1})
    store.kept[1] = [(SessionCancelled(session_id="s", reason="user left"), 60.0)]
    recall.forget([1])

    await recall.ready({1})

    assert store.loads == [1, 1]
    assert book.reason("s", "main") == "user left"


async def test_concurrent_fetches_share_one_load() -> None:
    store = MemoryStore()
    recall = CancellationRecall(CancellationBook(), store)
    await asyncio.gather(recall.ready({2}), recall.ready({2}))
    assert store.loads == [2]


async def test_a_store_that_does_not_answer_is_retried_then_given_up() -> None:
    store = MemoryStore()
    store.kept[0] = [(SessionCancelled(session_id="s"), 60.0)]
    store.down = 2
    book = CancellationBook()
    await CancellationRecall(book, store).ready({0})
    assert store.loads == [0, 0, 0]
    assert book.reason("s", "main") == "cancelled"

    store.down = 10_000
    given_up = CancellationBook()
    await asyncio.wait_for(CancellationRecall(given_up, store, patience_s=0.2).ready({0}), 5)
    assert given_up.reason("s", "main") is None  # calls go on rather than wait for ever


async def test_a_store_that_fails_or_does_not_save_never_raises() -> None:
    store = MemoryStore()
    store.broken = True
    recall = CancellationRecall(CancellationBook(), store)
    await recall.ready({0})
    store.down = 1
    await recall.keep(0, SessionCancelled(session_id="s"))
    assert store.kept == {}


@pytest.mark.parametrize("left_s", [5.0, 7200.0])
def test_a_restored_entry_lasts_what_is_left_never_past_the_ttl(left_s: float) -> None:
    clock = Clock()
    book = CancellationBook(ttl_s=3600, clock=clock)
    book.record(SessionCancelled(session_id="s", reason="old"), ttl_s=left_s)
    clock.now = min(left_s, 3600) - 0.5
    assert book.reason("s", "main") == "old"
    clock.now = min(left_s, 3600) + 0.5
    assert book.reason("s", "main") is None


def test_a_restored_entry_does_not_shorten_a_fresher_one() -> None:
    clock = Clock()
    book = CancellationBook(ttl_s=100, clock=clock)
    book.record(SessionCancelled(session_id="s", reason="fresh"))
    book.record(SessionCancelled(session_id="s", reason="kept"), ttl_s=10)
    clock.now = 50
    assert book.reason("s", "main") == "fresh"
