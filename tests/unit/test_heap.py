"""The worker's garbage-collector settings: what is frozen, what is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from async_toolformer.streams.worker.heap import (
    OBJECTS_PER_CALL,
    settle_heap,
    young_threshold,
    young_threshold_for,
)


class Node:
    """A tracked object that can sit in a reference cycle and be watched by a weakref."""

    def __init__(self) -> None:
        self.other: object = None


def _cycle() -> weakref.ref[Node]:
    """A two-node cycle nothing else refers to: only the collector can free it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def _tracked(obj: object) -> bool:
    """Whether the collector still walks ``obj`` (frozen objects are out of its view)."""
    return any(found is obj for found in gc.get_objects())


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    enabled = gc.isenabled()
    gc.disable()  # no automatic pass may free or move what a test watches
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()


@pytest.mark.usefixtures("restored_gc")
def test_live_startup_objects_are_frozen_out_of_the_collectors_view() -> None:
    survivor = Node()
    assert _tracked(survivor)
    settle_heap(50_000)
    assert not _tracked(survivor)  # no collection walks it again
    newcomer = Node()
    assert _tracked(newcomer)  # what the worker allocates later is still collected
    assert gc.get_threshold()[0] == 50_000


@pytest.mark.usefixtures("restored_gc")
def test_garbage_left_by_startup_is_collected_not_frozen_for_good() -> None:
    dead = _cycle()
    assert dead() is not None  # the collector is off: only a collection frees the cycle
    settle_heap(50_000)
    assert dead() is None


@pytest.mark.usefixtures("restored_gc")
def test_cycles_made_after_settling_are_still_collected() -> None:
    settle_heap(50_000)
    dead = _cycle()
    gc.collect()
    assert dead() is None


@pytest.mark.usefixtures("restored_gc")
def test_zero_leaves_the_interpreter_defaults() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    dead = _cycle()
    settle_heap(0)
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == before
    assert dead() is not None  # not even a collection


def test_the_default_threshold_stays_above_what_a_full_cap_of_calls_holds() -> None:
    assert young_threshold_for(10) == 1_000_000
    assert young_threshold_for(20_000) == 20_000 * OBJECTS_PER_CALL > 1_000_000


def test_a_configured_threshold_wins_over_the_default() -> None:
    assert young_threshold(None, 20_000) == young_threshold_for(20_000)
    assert young_threshold(5_000, 20_000) == 5_000
    assert young_threshold(0, 20_000) == 0
