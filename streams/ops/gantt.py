"""A session timeline as text bars, one row per call, on a shared time axis.

    wave 1  c1  ██████████████····  420 ms
            c2  ···████████·······  310 ms
    wave 2  c3  ················██   60 ms
"""

from __future__ import annotations

from datetime import datetime

from async_toolformer.streams.ops.timeline import SessionTimeline

FULL, EMPTY, PENDING = "█", "·", "░"


def gantt_bars(timeline: SessionTimeline, *, width: int = 40,
               now: datetime | None = None) -> dict[str, str]:
    """A bar of ``width`` cells per call_id; pending calls run to ``now`` (or the last end)."""
    start = timeline.start
    if start is None:
        return {}
    horizon = max(filter(None, (timeline.end, now)), default=start)
    total = max((horizon - start).total_seconds(), 1e-6)

    def cell(moment: datetime) -> int:
        return min(width - 1, int((moment - start).total_seconds() / total * width))

    bars = {}
    for span in timeline.spans:
        first = cell(span.start)
        last = cell(span.end) if span.end is not None else width - 1
        mark = FULL if span.end is not None else PENDING
        bars[span.call_id] = (EMPTY * first + mark * (last - first + 1)
                              + EMPTY * (width - last - 1))
    return bars
