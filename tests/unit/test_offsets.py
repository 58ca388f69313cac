"""OffsetTracker: acks leave in offset order, whatever order calls finish in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from async_toolformer.agents.executor import OffsetTracker


def test_a_finished_call_waits_for_the_unfinished_head() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    for offset in (0, 1, 2):
        tracker.start("p0", offset, f"e{offset}")
    assert tracker.finish("p0", 1) == []
    assert tracker.finish("p0", 2) == []
    assert tracker.finish("p0", 0) == ["e0", "e1", "e2"]
    assert tracker.pending() == 0


def test_partitions_are_independent() -> None:
    tracker: OffsetTracker[int] = OffsetTracker()
    tracker.start("a", 5, 5)
    tracker.start("b", 9, 9)
    assert tracker.finish("b", 9) == [9]
    assert tracker.pending("a") == 1


def test_a_partition_read_again_starts_over() -> None:
    tracker: OffsetTracker[int] = OffsetTracker()
    tracker.start("a", 3, 3)
    tracker.start("a", 4, 4)
    tracker.start("a", 3, 30)  # redelivered from the committed offset
    assert tracker.finish("a", 4) == []  # the old reading is gone
    assert tracker.finish("a", 3) == [30]


def test_forgetting_a_revoked_partition_drops_its_pending_records() -> None:
    tracker: OffsetTracker[int] = OffsetTracker()
    tracker.start("a", 0, 0)
    assert tracker.forget("a") == 1
    assert tracker.finish("a", 0) == []


@given(st.permutations(list(range(30))))
def test_any_finish_order_acks_each_once_in_order(order: list[int]) -> None:
    tracker: OffsetTracker[int] = OffsetTracker()
    for offset in range(30):
        tracker.start("p", offset, offset)
    acked: list[int] = []
    for offset in order:
        acked += tracker.finish("p", offset)
        assert acked == list(range(len(acked)))  # always a prefix: never past a gap
    assert acked == list(range(30))
