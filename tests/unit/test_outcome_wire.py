"""The bytes ``completed_wire`` writes are the model's own, whatever a tool returned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticSerializationError

from async_toolformer.agents.executor.outcome import CallOutcome, completed_event, completed_wire
from async_toolformer.schemas import CallStatus, ToolCallRequested, ToolError, encode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
offsets = st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23),
                                            max_value=timedelta(hours=23)))
any_time = st.datetimes(timezones=st.none() | st.just(UTC) | offsets)
utc_time = st.datetimes(timezones=st.just(UTC))
ids = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "")


@st.composite
def outcomes(draw: st.DrawFn) -> CallOutcome:
    error = draw(st.none() | st.builds(ToolError, type=st.text(), message=st.text(),
                                       retryable=st.booleans()))
    return CallOutcome(
        status=draw(st.sampled_from(CallStatus)), output=draw(json_values), error=error,
        attempts=draw(st.integers(min_value=0, max_value=10)),
        started_at=draw(st.none() | utc_time), finished_at=draw(utc_time),
        retry_after_ms=draw(st.none() | st.integers(min_value=0)))


requests = st.builds(ToolCallRequested, call_id=ids, session_id=ids, tool=ids,
                     requested_at=any_time)


@settings(max_examples=300)
@given(request=requests, outcome=outcomes(), received_at=utc_time, worker_id=st.text())
def test_the_wire_is_the_encoded_model(request: ToolCallRequested, outcome: CallOutcome,
                                       received_at: datetime, worker_id: str) -> None:
    assert _both_agree(request, outcome, worker_id, received_at)


@pytest.mark.parametrize("output", [2**70, {"big": [-(2**65)]}, float("nan"), {"k": 1e300}])
def test_big_ints_and_odd_floats_are_written_as_the_model_writes_them(output: Any) -> None:
    request = ToolCallRequested(call_id="c", session_id="s", tool="t")
    outcome = CallOutcome(status=CallStatus.OK, output=output, attempts=1)
    assert _both_agree(request, outcome, "w", datetime.now(UTC))


def test_a_request_time_offset_by_seconds_is_written_as_the_model_writes_it() -> None:
    odd = datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=150)))
    request = ToolCallRequested(call_id="c", session_id="s", tool="t", requested_at=odd)
    outcome = CallOutcome(status=CallStatus.OK, output=None, attempts=1)
    assert _both_agree(request, outcome, "w", datetime.now(UTC))


def test_a_request_time_offset_by_a_part_second_west_of_utc_is_written_as_the_model_writes_it(
) -> None:
    odd = datetime(2000, 1, 1, tzinfo=timezone(-timedelta(hours=22, minutes=29,
                                                          seconds=59, microseconds=499999)))
    request = ToolCallRequested(call_id="c", session_id="s", tool="t", requested_at=odd)
    outcome = CallOutcome(status=CallStatus.OK, output=None, attempts=1)
    assert _both_agree(request, outcome, "w", datetime.now(UTC))


def _both_agree(request: ToolCallRequested, outcome: CallOutcome, worker_id: str,
                received_at: datetime) -> bool:
    wire = completed_wire(request, outcome, worker_id=worker_id, received_at=received_at)
    model = completed_event(request, outcome, worker_id=worker_id, received_at=received_at)
    return wire == encode(model)


def test_output_no_json_can_hold_fails_as_the_model_does() -> None:
    request = ToolCallRequested(call_id="c", session_id="s", tool="t")
    outcome = CallOutcome(status=CallStatus.OK, output="lone \ud800 surrogate", attempts=1)
    with pytest.raises(PydanticSerializationError):
        completed_wire(request, outcome, worker_id="w", received_at=datetime.now(UTC))
