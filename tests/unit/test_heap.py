"""The worker's garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from async_toolformer.streams.worker.heap import OBJECTS_PER_CALL, settle_heap, young_threshold_for


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_heap_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    survivor = [object() for _ in range(10)]
    settle_heap(50_000)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == 50_000
    assert survivor  # kept alive across the freeze


@pytest.mark.usefixtures("restored_gc")
def test_zero_leaves_the_interpreter_defaults() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    settle_heap(0)
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == before


def test_the_default_threshold_stays_above_what_a_full_cap_of_calls_holds() -> None:
    assert young_threshold_for(10) == 1_000_000
    assert young_threshold_for(20_000) == 20_000 * OBJECTS_PER_CALL > 1_000_000
