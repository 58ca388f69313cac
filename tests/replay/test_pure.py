"""The pure parts of replay and history: range selection, diffs, timelines, bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from async_toolformer.schemas import CallStatus, CallTimings, ToolCallCompleted, ToolCallRequested
from async_toolformer.streams.ops import RangeError, RecordRange, Verdict, compare, tally
from async_toolformer.streams.ops.gantt import gantt_bars
from async_toolformer.streams.ops.timeline import PENDING, build_timeline

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def _result(call_id: str, start_ms: float, end_ms: float, *, output: object = 1,
            status: CallStatus = CallStatus.OK, worker: str = "w1",
            session: str = "s") -> ToolCallCompleted:
    timings = CallTimings(requested_at=T0, received_at=_at(start_ms), started_at=_at(start_ms),
                          finished_at=_at(end_ms), queue_ms=0, run_ms=end_ms - start_ms)
    return ToolCallCompleted(call_id=call_id, session_id=session, tool="t", status=status,
                             output=output, attempts=1, worker_id=worker, timings=timings)


def _call(call_id: str, session: str = "s") -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id, session_id=session, tool="t", requested_at=T0)


def test_offsets_are_inclusive_and_times_match_record_timestamps() -> None:
    selection = RecordRange(from_offset=3, to_offset=5, from_time=_at(100), to_time=_at(200))
    t = int(_at(150).timestamp() * 1000)
    assert [o for o in range(10) if selection.accepts(o, t)] == [3, 4, 5]
    assert not selection.accepts(4, int(_at(99).timestamp() * 1000))
    assert not selection.accepts(4, int(_at(201).timestamp() * 1000))
    assert not selection.exhausted(5)
    assert selection.exhausted(6)
    assert not RecordRange(to_time=_at(0)).exhausted(10**9)  # times never end a partition


@pytest.mark.parametrize("bad", [
    {"from_offset": -1}, {"from_offset": 5, "to_offset": 4},
    {"from_time": _at(10), "to_time": _at(0)}, {"from_time": datetime(2025, 1, 1)},
    {"partitions": (-1,)},
])
def test_impossible_ranges_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(RangeError):
        RecordRange(**bad)  # type: ignore[arg-type]


def test_partitions_must_exist() -> None:
    assert RecordRange().partitions_of({2, 0, 1}) == [0, 1, 2]
    assert RecordRange(partitions=(1, 1)).partitions_of({0, 1}) == [1]
    with pytest.raises(RangeError, match=r"\[5\]"):
        RecordRange(partitions=(5,)).partitions_of({0, 1})


def test_diff_verdicts() -> None:
    old = _result("c", 0, 10)
    assert compare("c", old, old).verdict is Verdict.IDENTICAL
    rerun = _result("c", 50, 70, worker="w2")
    assert compare("c", old, rerun).verdict is Verdict.SAME_OUTCOME
    changed = compare("c", old, _result("c", 50, 70, output=2))
    assert changed.verdict is Verdict.CHANGED
    assert changed.changed_fields == ("output",)
    assert compare("c", None, old).verdict is Verdict.NO_OLD_RESULT
    assert compare("c", old, None).verdict is Verdict.NO_NEW_RESULT
    counts = tally([changed, compare("c", old, old)])
    assert counts == {"identical": 1, "same_outcome": 0, "changed": 1, "no_old_result": 0,
                      "no_new_result": 0}


def test_timeline_finds_what_ran_in_parallel() -> None:
    calls = [_call("a"), _call("b"), _call("c"), _call("d"), _call("a"), _call("x", "other")]
    results = [_result("a", 0, 100), _result("b", 20, 60), _result("c", 150, 200),
               _result("a", 300, 400, worker="again")]

    timeline = build_timeline("s", calls, results)

    by_id = {s.call_id: s for s in timeline.spans}
    assert set(by_id) == {"a", "b", "c", "d"}  # the other session is left out
    assert by_id["a"].overlaps == ["b"]
    assert by_id["a"].published == 2
    assert by_id["a"].answered == 2
    assert by_id["a"].worker_id == "w1"  # the first answer counts; later ones re-emit
    assert by_id["c"].overlaps == []
    assert (by_id["d"].status, by_id["d"].wave, by_id["d"].overlaps) == (PENDING, 0, [])
    assert [by_id[c].wave for c in "abc"] == [1, 1, 2]
    assert timeline.max_parallel == 2
    assert timeline.waves == 2


def test_bars_share_one_axis() -> None:
    timeline = build_timeline("s", [_call("p")],
                              [_result("a", 0, 100), _result("b", 50, 100)])
    bars = gantt_bars(timeline, width=10)
    assert bars["a"] == "█" * 10
    assert bars["b"] == "·" * 5 + "█" * 5
    assert bars["p"] == "░" * 10  # pending since its request, at T0
