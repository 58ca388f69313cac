"""Fingerprints: a call_id held or recorded for one execution is a conflict for any other.

The model and the Lua scripts are held to each other on random interleavings
that mix fingerprints, and the rule is checked on Redis's answers alone: a
claim is answered from a record only if it carries the fingerprint the record
was made with, and never takes over another execution's lease.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from async_toolformer.streams.redis.ledger import (
    Acquired,
    Conflict,
    ExecutionLedger,
    HeldElsewhere,
    InMemoryLedger,
    LedgerModel,
    Recorded,
)
from async_toolformer.streams.redis.ledger._codec import encode_record, split_record

from .conftest import LedgerFactory, drop_namespace, fresh_namespace

LEASE = 1_000
RETENTION_S = 600
T0 = 1_000_000
A, B = "a" * 32, "b" * 32


def test_model_refuses_another_fingerprint_in_every_state() -> None:
    m = LedgerModel(lease_ms=LEASE, retention_ms=RETENTION_S * 1000)
    claim = m.claim("c", "w1", T0, fingerprint=A)
    assert isinstance(claim, Acquired)
    assert m.claim("c", "w2", T0 + 1, fingerprint=B) == Conflict()  # live lease
    assert m.claim("c", "w2", T0 + LEASE + 1, fingerprint=B) == Conflict()  # expired lease
    assert m.release("c", claim.token, T0 + 2)
    assert m.claim("c", "w2", T0 + 3, fingerprint="") == Conflict()  # no fingerprint either
    retaken = m.claim("c", "w1", T0 + LEASE + 2, fingerprint=A)
    assert isinstance(retaken, Acquired)
    assert m.complete("c", retaken.token, b"out", T0 + LEASE + 3, fingerprint=A)
    assert m.claim("c", "w2", T0 + LEASE + 4, fingerprint=B) == Conflict()  # recorded
    assert m.claim("c", "w2", T0 + LEASE + 5, fingerprint=A) == Recorded(b"out")
    assert m.entry("c", T0 + LEASE + 6) == (A, b"out")


def test_records_keep_their_fingerprint_and_old_ones_read_as_none() -> None:
    assert split_record(encode_record(7, b"x" * 5_000, 100, fingerprint=A)) == (A, b"x" * 5_000)
    assert split_record(encode_record(7, b"out", 100, fingerprint=A)) == (A, b"out")
    assert split_record(encode_record(7, b"out", 100)) == ("", b"out")
    with pytest.raises(ValueError, match="not a ledger record"):
        split_record(b"R7:no-second-separator")


async def test_in_memory_ledger_answers_conflicts_in_batches() -> None:
    ledger = InMemoryLedger(clock=lambda: T0)
    [first] = await ledger.claim_many([("c", "w1")], fingerprints=[A])
    assert isinstance(first, Acquired)
    assert await ledger.complete_many([("c", first.token, b"out")], fingerprints=[A]) == [True]
    answers = await ledger.claim_many([("c", "w2"), ("c", "w2")], fingerprints=[B, A])
    assert answers == [Conflict(), Recorded(b"out")]


@pytest.mark.connected
async def test_redis_refuses_another_fingerprint_and_keeps_the_record(
        make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(lease_ms=LEASE)
    first = await ledger.claim("c", "w1", fingerprint=A)
    assert isinstance(first, Acquired)
    assert await ledger.claim("c", "w2", fingerprint=B) == Conflict()
    assert isinstance(await ledger.claim("c", "w2", fingerprint=A), HeldElsewhere)
    assert await ledger.complete("c", first.token, b"out", fingerprint=A)
    assert await ledger.claim("c", "w2", fingerprint=B) == Conflict()
    assert await ledger.claim("c", "w2", fingerprint=A) == Recorded(b"out")
    assert await ledger.entry("c") == (A, b"out")
    assert await ledger.lookup("c") == b"out"  # a plain lookup still reads the result
    assert await ledger.read_many(["c"]) == [b"out"]
    assert await ledger.entry("never") is None


call = st.sampled_from(("x", "y"))
fingerprint = st.sampled_from(("", A, B))
token_pick = st.one_of(st.integers(-2, 2), st.just(None))
op = st.one_of(
    st.tuples(st.just("claim"), st.lists(st.tuples(call, st.sampled_from(("w1", "w2")),
                                                   fingerprint), min_size=1, max_size=3)),
    st.tuples(st.just("complete"), call, token_pick, fingerprint),
    st.tuples(st.just("release"), call, token_pick),
    st.tuples(st.just("entry"), call),
    st.tuples(st.just("advance"), st.sampled_from([0, 1, LEASE, LEASE + 1, 3 * LEASE])),
)


@pytest.mark.connected
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=30))
async def test_redis_and_model_agree_on_fingerprints(ledger_redis: Redis,
                                                     ops: list[tuple[Any, ...]]) -> None:
    ledger = ExecutionLedger(ledger_redis, namespace=fresh_namespace(), lease_ms=LEASE,
                             retention_s=RETENTION_S, compress_above_bytes=8)
    model = LedgerModel(lease_ms=LEASE, retention_ms=RETENTION_S * 1000)
    tokens: dict[str, list[int]] = {}
    recorded_by: dict[str, str] = {}
    now = T0
    try:
        for kind, *args in ops:
            if kind == "advance":
                now += args[0]
            elif kind == "claim":
                answers = await ledger.claim_many([(c, w) for c, w, _ in args[0]], now_ms=now,
                                                  fingerprints=[f for _, _, f in args[0]])
                assert answers == [model.claim(c, w, now, fingerprint=f) for c, w, f in args[0]]
                for (c, _, f), answer in zip(args[0], answers, strict=True):
                    if isinstance(answer, Acquired):
                        tokens.setdefault(c, []).append(answer.token)
                    if isinstance(answer, Recorded):  # only ever to its own execution
                        assert recorded_by[c] == f
            elif kind == "complete":
                c, pick, f = args
                issued = tokens.get(c, [])
                token = issued[pick % len(issued)] if issued and pick is not None else 7
                [ok] = await ledger.complete_many([(c, token, b"r-" + f.encode())], now_ms=now,
                                                  fingerprints=[f])
                assert ok == model.complete(c, token, b"r-" + f.encode(), now, fingerprint=f)
                if ok:
                    recorded_by.setdefault(c, f)
            elif kind == "release":
                issued = tokens.get(args[0], [])
                token = issued[args[1] % len(issued)] if issued and args[1] is not None else 7
                [ok] = await ledger.release_many([(args[0], token)], now_ms=now)
                assert ok == model.release(args[0], token, now)
            else:
                [found] = await ledger.lookup_many([args[0]], now_ms=now)
                assert found == model.lookup(args[0], now)
    finally:
        await drop_namespace(ledger_redis, ledger)
