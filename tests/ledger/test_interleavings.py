"""Random interleavings of claim, renew, expiry, complete, release and redelivery.

Each sequence runs against the model and against real Redis (the scripts get
the test's clock through ``now_ms``), which must answer alike; the invariants
are checked on Redis's answers on their own as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from async_toolformer.streams.redis.ledger import Acquired, ExecutionLedger, LedgerModel, Recorded

from .conftest import drop_namespace, fresh_namespace

pytestmark = pytest.mark.connected

LEASE = 1_000
RETENTION_S = 600
CALLS = ("a", "b", "c")
WORKERS = ("w1", "w2", "w3")
RESULTS = (b"", b"ok", b"x" * 3_000, bytes(range(256)) * 8)

call = st.sampled_from(CALLS)
# An index into the tokens issued for the call (negative: the latest ones), or a bogus token.
token_pick = st.one_of(st.integers(-3, 3), st.just(None))
op = st.one_of(
    st.tuples(st.just("claim"), st.lists(st.tuples(call, st.sampled_from(WORKERS)),
                                         min_size=1, max_size=4)),
    st.tuples(st.just("renew"), call, token_pick),
    st.tuples(st.just("complete"), call, token_pick, st.sampled_from(RESULTS)),
    st.tuples(st.just("release"), call, token_pick),
    st.tuples(st.just("lookup"), call),
    st.tuples(st.just("advance"), st.one_of(st.sampled_from([0, 1, LEASE - 1, LEASE, LEASE + 1]),
                                            st.integers(0, 3 * LEASE))),
)


@dataclass
class Observed:
    """What Redis has said so far, to check the invariants on its answers alone."""

    tokens: dict[str, list[int]] = field(default_factory=dict)
    recorded: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def pick(self, call_id: str, pick: int | None) -> int:
        issued = self.tokens.get(call_id, [])
        if pick is None or not issued:
            return 7  # never issued: tokens start at the clock, far above
        return issued[pick % len(issued)]

    def saw_claim(self, call_id: str, answer: object) -> None:
        if isinstance(answer, Acquired):
            issued = self.tokens.setdefault(call_id, [])
            assert not issued or answer.token > issued[-1], "tokens must strictly increase"
            assert call_id not in self.recorded, "a recorded call was handed out again"
            issued.append(answer.token)
        if isinstance(answer, Recorded):
            assert self.recorded[call_id][1] == answer.result

    def saw_complete(self, call_id: str, token: int, result: bytes, ok: bool) -> None:
        if call_id in self.recorded:
            assert ok == (self.recorded[call_id][0] == token), "only the recorder's retry is ok"
        elif ok:
            assert token == self.tokens[call_id][-1], "a stale token recorded"
            self.recorded[call_id] = (token, result)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=40))
async def test_redis_and_model_agree(ledger_redis: Redis, ops: list[tuple[Any, ...]]) -> None:
    ledger = ExecutionLedger(ledger_redis, namespace=fresh_namespace(), lease_ms=LEASE,
                             retention_s=RETENTION_S, compress_above_bytes=512)
    model = LedgerModel(lease_ms=LEASE, retention_ms=RETENTION_S * 1000)
    seen = Observed()
    now = 1_000_000
    try:
        for kind, *args in ops:
            if kind == "advance":
                now += args[0]
            elif kind == "claim":
                answers = await ledger.claim_many(args[0], now_ms=now)
                assert answers == [model.claim(c, w, now) for c, w in args[0]]
                for (c, _), answer in zip(args[0], answers, strict=True):
                    seen.saw_claim(c, answer)
            elif kind == "renew":
                token = seen.pick(args[0], args[1])
                [ok] = await ledger.renew_many([(args[0], token)], now_ms=now)
                assert ok == model.renew(args[0], token, now)
            elif kind == "complete":
                c, pick, result = args
                token = seen.pick(c, pick)
                [ok] = await ledger.complete_many([(c, token, result)], now_ms=now)
                assert ok == model.complete(c, token, result, now)
                seen.saw_complete(c, token, result, ok)
            elif kind == "release":
                token = seen.pick(args[0], args[1])
                [ok] = await ledger.release_many([(args[0], token)], now_ms=now)
                assert ok == model.release(args[0], token, now)
            else:
                [found] = await ledger.lookup_many([args[0]], now_ms=now)
                assert found == model.lookup(args[0], now)
                assert found == seen.recorded.get(args[0], (0, None))[1]
    finally:
        await drop_namespace(ledger_redis, ledger)
