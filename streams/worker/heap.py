"""The garbage collector's settings for a long-running worker.

After start-up a worker holds a few hundred thousand long-lived objects (Faust,
aiokafka, pydantic's schemas, the LLM SDKs), and every full collection walks
them all; at saturation that was about half of the worker's CPU per call.
Freezing them takes them out of the collector's view for good.

The young threshold counts objects allocated and not yet freed since the last
collection, so per-call garbage freed by reference counting never triggers one.
What does is calls in flight: a sleeping call holds about 45 tracked objects
until it ends, so 20,000 of them hold about 900,000. Each collection walks the
live ones again: with a threshold of 50,000 that was about 30 µs of CPU per
call, and with a fixed million, a burst of 20,000 (with what the worker held
already) crossed it once and paused the worker for 320-420 ms, to collect a
few hundred objects. So by default the threshold is kept above what a full
in-flight cap holds (:func:`young_threshold_for`), and a burst is not walked at
all. Reference cycles are still collected, only later: at most that many young
objects wait for a pass, and a pass at full load pauses the worker for up to a
few hundred ms.

``run_worker`` applies this once the worker is up, unless ``TOOLFORMER_GC_TUNING``
is off (a host that tunes the collector itself, or runs many workers in one
process as the tests do).
"""

from __future__ import annotations

import gc

__all__ = ["OBJECTS_PER_CALL", "settle_heap", "young_threshold", "young_threshold_for"]

OBJECTS_PER_CALL = 100  # 44 measured for a sleeping call with the ledger; room for a tool's own
_LEAST_YOUNG_THRESHOLD = 1_000_000


def young_threshold_for(max_in_flight: int) -> int:
    """The default young threshold: above what ``max_in_flight`` calls hold, 1,000,000 at least."""
    return max(_LEAST_YOUNG_THRESHOLD, OBJECTS_PER_CALL * max_in_flight)


def young_threshold(configured: int | None, max_in_flight: int) -> int:
    """The threshold set explicitly, else :func:`young_threshold_for` the cap."""
    return young_threshold_for(max_in_flight) if configured is None else configured


def settle_heap(young_threshold: int) -> None:
    """Freeze what start-up left alive and collect young objects every ``young_threshold``.

    ``0`` leaves the interpreter's defaults. Call once, when the worker is up.
    """
    if young_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
