"""The wire codec and the partitioner the client shares with the workers."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from async_toolformer.schemas import (
    InvalidEventError,
    SessionCancelled,
    ToolCallRequested,
    UndecodableError,
    decode,
    encode,
    json_schemas,
)
from async_toolformer.streams.client import partition_for
from async_toolformer.streams.kafka.publisher import KeyHashCache


def test_round_trip_by_type_tag() -> None:
    call = ToolCallRequested(call_id="c", session_id="s", tool="t", arguments={"x": [1, 2]})
    assert decode(encode(call)) == call
    assert isinstance(decode(encode(SessionCancelled(session_id="s"))), SessionCancelled)


def test_errors_tell_bad_bytes_from_bad_events() -> None:
    with pytest.raises(UndecodableError):
        decode(b"{")
    with pytest.raises(InvalidEventError, match="call_id") as info:
        decode(b'{"type": "tool_call_requested", "session_id": "s", "tool": "t"}')
    assert info.value.call_id is None
    newer = b'{"type": "session_cancelled", "session_id": "s", "schema_version": 99}'
    with pytest.raises(InvalidEventError, match="schema_version"):
        decode(newer)


def test_every_event_has_a_json_schema() -> None:
    schemas = json_schemas()
    assert set(schemas) >= {"ToolCallRequested", "ToolCallCompleted", "BranchCancelled",
                            "SessionCancelled", "DeadLetter"}
    assert "call_id" in schemas["ToolCallRequested"]["required"]


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
def test_partition_for_matches_the_producers_default_partitioner(session: str, n: int) -> None:
    partitions = list(range(n))
    assert partition_for(session, n) == DefaultPartitioner()(session.encode(), partitions,
                                                             partitions)


@given(st.lists(st.binary(min_size=1, max_size=16), min_size=1, max_size=20),
       st.integers(min_value=1, max_value=64))
def test_the_workers_cached_partitioner_agrees_with_the_default(keys: list[bytes],
                                                                 n: int) -> None:
    partitions = list(range(n))
    cached = KeyHashCache(max_keys=4)  # small, so the cache is also emptied on the way
    for key in keys + keys:
        assert cached(key, partitions, partitions) == DefaultPartitioner()(key, partitions,
                                                                            partitions)
