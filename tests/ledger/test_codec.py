"""The stored form of a result: flagged, token-stamped, compressed only when it pays."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from async_toolformer.streams.redis.ledger._codec import (
    RAW,
    ZLIB,
    decode_record,
    encode_record,
    record_token,
)


def test_small_result_is_stored_raw() -> None:
    stored = encode_record(42, b"hello", compress_above=1024)
    assert stored == b"r42:hello"


def test_large_compressible_result_is_compressed() -> None:
    result = b'{"rows": ' + b"[1, 2, 3], " * 500 + b"}"
    stored = encode_record(7, result, compress_above=1024)
    assert stored[:1] == ZLIB
    assert len(stored) < len(result) // 5
    assert decode_record(stored) == result


def test_incompressible_result_stays_raw_even_above_threshold() -> None:
    result = os.urandom(4096)
    stored = encode_record(7, result, compress_above=1024)
    assert stored[:1] == RAW
    assert decode_record(stored) == result


@given(token=st.integers(1, 2**53), result=st.binary(max_size=3000),
       threshold=st.integers(0, 2000))
def test_round_trip(token: int, result: bytes, threshold: int) -> None:
    stored = encode_record(token, result, compress_above=threshold)
    assert decode_record(stored) == result
    assert record_token(stored) == token


@pytest.mark.parametrize("stored", [b"", b"x1:abc", b"r12abc"])
def test_foreign_bytes_are_rejected(stored: bytes) -> None:
    with pytest.raises(ValueError, match="not a ledger record"):
        decode_record(stored)
