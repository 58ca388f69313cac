"""Diffing results as bytes: the same bytes are identical without decoding, others by model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from async_toolformer.schemas import CallStatus, CallTimings, ToolCallCompleted, encode
from async_toolformer.streams.ops import ReplayError, Verdict, compare_wires, diff_wires, tally

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _wire(call_id: str, *, output: object = 1, worker: str = "w1") -> bytes:
    timings = CallTimings(requested_at=T0, received_at=T0, started_at=T0, finished_at=T0,
                          queue_ms=0, run_ms=0)
    return encode(ToolCallCompleted(call_id=call_id, session_id="s", tool="t",
                                    status=CallStatus.OK, output=output, attempts=1,
                                    worker_id=worker, timings=timings))


def test_verdicts_from_bytes() -> None:
    old = {"same": _wire("same"), "rerun": _wire("rerun"), "changed": _wire("changed"),
           "junk": b'{"type": "tool_call_completed", "call_id": "junk"}', "gone": _wire("gone")}
    new = {"same": _wire("same"), "rerun": _wire("rerun", worker="w2"),
           "changed": _wire("changed", output=2), "junk": _wire("junk"), "fresh": _wire("fresh")}

    diffs = diff_wires(["same", "rerun", "changed", "junk", "gone", "fresh"], old, new)

    assert [d.verdict for d in diffs] == [Verdict.IDENTICAL, Verdict.SAME_OUTCOME,
                                          Verdict.CHANGED, Verdict.NO_OLD_RESULT,
                                          Verdict.NO_NEW_RESULT, Verdict.NO_OLD_RESULT]
    assert diffs[2].changed_fields == ("output",)
    same = diffs[0]
    assert same.old is same.new  # one decode serves both sides
    assert same.new is not None
    assert same.new.call_id == "same"
    assert same.tool == "t"
    assert tally(diffs)["identical"] == 1


def test_identical_bytes_that_are_no_result_fail_clearly_when_looked_at() -> None:
    junk = b'{"type": "tool_call_completed", "call_id": "x"}'
    diff = compare_wires("x", junk, junk)
    assert diff.verdict is Verdict.IDENTICAL
    with pytest.raises(ReplayError, match="the result of x is not a valid result"):
        _ = diff.new
