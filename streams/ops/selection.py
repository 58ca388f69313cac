"""Which records of a topic a replay takes: offsets and times, per partition or all.

Pure: the reader asks :meth:`RecordRange.accepts` for each record and
:meth:`RecordRange.exhausted` to know when a partition is done. Times are
matched against each record's own timestamp while reading, never by asking the
broker for the offset of a time (ListOffsets by timestamp is wrong on the
embedded broker, docs/broker.md), and the end of a range is never taken from
the broker's end offsets, which lag after batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from async_toolformer.streams.ops.exceptions import RangeError


@dataclass(frozen=True, slots=True)
class RecordRange:
    """Offsets ``from_offset..to_offset`` (both inclusive) and times ``from_time..to_time``.

    Every bound is optional: no bound means from the start, or up to whatever the
    partition holds when reading goes idle. Offsets apply to each partition read.
    """

    partitions: tuple[int, ...] | None = None
    from_offset: int | None = None
    to_offset: int | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (self.from_time, self.to_time):
            if moment is not None and moment.tzinfo is None:
                raise RangeError(f"{moment.isoformat()} has no time zone; add one, e.g. "
                                 f"{moment.isoformat()}+00:00")
        if self.from_offset is not None and self.from_offset < 0:
            raise RangeError(f"--from-offset {self.from_offset} is negative; offsets start at 0")
        if (self.from_offset is not None and self.to_offset is not None
                and self.to_offset < self.from_offset):
            raise RangeError(f"--to-offset {self.to_offset} is before --from-offset "
                             f"{self.from_offset}; swap them")
        if self.from_time and self.to_time and self.to_time < self.from_time:
            raise RangeError(f"--to-time {self.to_time.isoformat()} is before --from-time "
                             f"{self.from_time.isoformat()}; swap them")
        if self.partitions is not None and any(p < 0 for p in self.partitions):
            raise RangeError(f"partitions {self.partitions}: partition numbers start at 0")

    @property
    def start_offset(self) -> int:
        return self.from_offset or 0

    def partitions_of(self, available: Iterable[int]) -> list[int]:
        """The partitions to read, out of those the topic has."""
        present = sorted(available)
        if self.partitions is None:
            return present
        missing = sorted(set(self.partitions) - set(present))
        if missing:
            raise RangeError(f"partitions {missing} do not exist; the topic has "
                             f"{len(present)} (0..{len(present) - 1})")
        return sorted(set(self.partitions))

    def accepts(self, offset: int, timestamp_ms: int) -> bool:
        """Whether a record at ``offset`` written at ``timestamp_ms`` is in the range."""
        if offset < self.start_offset or (self.to_offset is not None
                                          and offset > self.to_offset):
            return False
        if self.from_time is not None and timestamp_ms < _ms(self.from_time):
            return False
        return self.to_time is None or timestamp_ms <= _ms(self.to_time)

    def exhausted(self, offset: int) -> bool:
        """Whether nothing at or after ``offset`` can be in the range (by offset only).

        Record timestamps are not monotonic (producers set them), so a time bound
        never ends a partition early: reading goes on until idle.
        """
        return self.to_offset is not None and offset > self.to_offset

    def describe(self) -> str:
        parts = [f"partitions {','.join(map(str, self.partitions))}"
                 if self.partitions is not None else "all partitions"]
        if self.from_offset is not None or self.to_offset is not None:
            upper = "end" if self.to_offset is None else str(self.to_offset)
            parts.append(f"offsets {self.start_offset}..{upper}")
        if self.from_time is not None:
            parts.append(f"from {self.from_time.isoformat()}")
        if self.to_time is not None:
            parts.append(f"to {self.to_time.isoformat()}")
        return ", ".join(parts)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
