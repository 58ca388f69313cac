"""``run_worker`` tunes the garbage collector once it is up, unless told not to.

The embedded worker gets what ``toolformer worker`` gets: the start-up heap
frozen and the configured young threshold.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from .conftest import PipelineFactory

pytestmark = pytest.mark.connected


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
async def test_a_started_worker_freezes_its_heap_and_sets_the_young_threshold(
        pipeline_factory: PipelineFactory) -> None:
    gc.unfreeze()
    pipe = await pipeline_factory(gc_tuning=True, gc_young_threshold=123_457)
    assert gc.get_threshold()[0] == 123_457
    assert gc.get_freeze_count() > 0
    assert not any(found is pipe.worker.app for found in gc.get_objects())  # frozen


@pytest.mark.usefixtures("restored_gc")
async def test_gc_tuning_off_leaves_the_collector_alone(pipeline_factory: PipelineFactory) -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    await pipeline_factory(gc_tuning=False, gc_young_threshold=123_457)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
