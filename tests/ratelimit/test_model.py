"""The Lua script against the Python reference model, on random sequences.

Each sequence of batches (decisions, releases, renewals) and clock steps runs
on a real Redis, with the test's clock passed as ``now_us``, and on
:class:`LocalDecisionStore`; every outcome (status, retry-after to the µs,
limiting limit) must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from async_toolformer.streams.redis.ratelimit.decisions import (
    Batch,
    BoundLimit,
    Decision,
    Kind,
    LimitParams,
    Outcome,
    Status,
)
from async_toolformer.streams.redis.ratelimit.local import LocalDecisionStore
from async_toolformer.streams.redis.ratelimit.redis_store import RedisDecisionStore

from .conftest import drop_namespace, fresh_namespace

pytestmark = pytest.mark.connected

# (name, params, uses_cost): a spread of kinds, exact and fractional intervals
SHAPES: list[tuple[str, LimitParams, bool]] = [
    ("bucket", LimitParams(Kind.GCRA, 100_000.0, 3.0), False),
    ("tokens", LimitParams(Kind.GCRA, 1_000.0, 50.0), True),
    ("thirds", LimitParams(Kind.GCRA, 1e6 / 3, 2.5), True),
    ("window", LimitParams(Kind.SLIDING_WINDOW, 1_000_000.0, 5.0), False),
    ("cwindow", LimitParams(Kind.SLIDING_WINDOW, 500_000.0, 20.0), True),
    ("inflight", LimitParams(Kind.CONCURRENCY, 1_000_000.0, 2.0, 20_000.0), False),
]
COSTS = (0.0, 0.5, 1.0, 2.5, 7.0, 30.0, 60.0)

decision = st.tuples(
    st.lists(st.integers(0, len(SHAPES) - 1), min_size=1, max_size=3, unique=True),
    st.sampled_from(COSTS),
)
op = st.one_of(
    st.tuples(st.just("decide"), st.lists(decision, min_size=1, max_size=5)),
    st.tuples(st.just("release"), st.integers(0, 10)),
    st.tuples(st.just("renew"), st.integers(0, 10)),
    st.tuples(st.just("advance"), st.one_of(
        st.sampled_from([0, 1, 999, 20_000, 100_000, 333_333, 500_000, 990_000, 999_999,
                         1_000_000]),
        st.integers(0, 2_500_000))),
)


def bound_limits(namespace: str) -> list[BoundLimit]:
    return [BoundLimit(name, f"{{{namespace}}}:{name}", params, uses_cost, reject=False)
            for name, params, uses_cost in SHAPES]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=30))
async def test_script_and_model_agree(limits_redis: Redis, ops: list[tuple[Any, ...]]) -> None:
    namespace = fresh_namespace()
    limits = bound_limits(namespace)
    redis_store, model = RedisDecisionStore(limits_redis), LocalDecisionStore()
    now = 1_700_000_000_000_000
    leases: list[tuple[tuple[BoundLimit, ...], str]] = []
    try:
        for step, (kind, arg) in enumerate(ops):
            batch = Batch()
            if kind == "advance":
                now += arg
                continue
            if kind == "decide":
                for picks, cost in arg:
                    chosen = tuple(limits[i] for i in picks)
                    lease = f"lease{step}.{len(batch.decisions)}" if any(
                        limit.params.kind is Kind.CONCURRENCY for limit in chosen) else ""
                    batch.decisions.append(Decision(chosen, cost, lease))
            elif leases:
                held, lease = leases[arg % len(leases)]
                pairs = [(limit, lease) for limit in held
                         if limit.params.kind is Kind.CONCURRENCY]
                if kind == "release":
                    batch.releases += pairs
                else:
                    batch.renewals += pairs
            got = await redis_store.apply(batch, now_us=now)
            expected = model.apply_now(batch, now)
            assert got == expected, (kind, batch, now)
            for d, outcome in zip(batch.decisions, got, strict=True):
                if outcome.status is Status.ADMITTED and d.lease:
                    leases.append((d.limits, d.lease))
    finally:
        await drop_namespace(limits_redis, namespace)


async def test_gcra_admits_burst_then_one_per_interval(limits_redis: Redis,
                                                       namespace: str) -> None:
    [bucket] = [limit for limit in bound_limits(namespace) if limit.name == "bucket"]
    store, now = RedisDecisionStore(limits_redis), 5_000_000_000
    burst = await store.apply(Batch([Decision((bucket,))] * 4), now_us=now)
    assert [o.status for o in burst] == [Status.ADMITTED] * 3 + [Status.DENIED]
    assert burst[3] == Outcome(Status.DENIED, 100_000, 0)
    [later] = await store.apply(Batch([Decision((bucket,))]), now_us=now + 100_000)
    assert later.status is Status.ADMITTED


async def test_all_or_nothing_leaves_other_limits_untouched(limits_redis: Redis,
                                                           namespace: str) -> None:
    bucket, _, _, window, _, _ = bound_limits(namespace)
    store, now = RedisDecisionStore(limits_redis), 5_000_000_000
    await store.apply(Batch([Decision((bucket,))] * 3), now_us=now)  # bucket empty
    [refused] = await store.apply(Batch([Decision((window, bucket))]), now_us=now)
    assert refused.status is Status.DENIED
    assert refused.limiting == 1
    # the window was not charged by the refused call: 5 still pass
    passed = await store.apply(Batch([Decision((window,))] * 6), now_us=now)
    assert [o.status for o in passed] == [Status.ADMITTED] * 5 + [Status.DENIED]


async def test_cost_above_burst_is_never_admissible(limits_redis: Redis, namespace: str) -> None:
    tokens = bound_limits(namespace)[1]
    [outcome] = await RedisDecisionStore(limits_redis).apply(Batch([Decision((tokens,), 51.0)]))
    assert outcome.status is Status.NEVER


async def test_server_clock_is_used_without_override(limits_redis: Redis, namespace: str) -> None:
    bucket = bound_limits(namespace)[0]
    store = RedisDecisionStore(limits_redis)
    outcomes = await store.apply(Batch([Decision((bucket,))] * 4))
    assert outcomes[3].status is Status.DENIED
    assert 0 < outcomes[3].retry_after_us <= 100_000
    raw = await limits_redis.get(bucket.key)
    assert raw is not None
    stored = float(raw)
    seconds, micros = await limits_redis.time()
    assert abs(stored - (seconds * 1e6 + micros)) < 5e6  # a server-clock TAT, not a test one


async def test_leases_expire_and_retry_after_points_at_the_earliest(limits_redis: Redis,
                                                                    namespace: str) -> None:
    inflight = bound_limits(namespace)[5]  # 2 permits, lease 1 s, poll 20 ms
    store, now = RedisDecisionStore(limits_redis), 5_000_000_000
    held = await store.apply(Batch([Decision((inflight,), 1, "a"), Decision((inflight,), 1, "b"),
                                    Decision((inflight,), 1, "c")]), now_us=now)
    assert [o.status for o in held] == [Status.ADMITTED, Status.ADMITTED, Status.DENIED]
    assert held[2].retry_after_us == 20_000  # the poll interval: leases end much later
    [near] = await store.apply(Batch([Decision((inflight,), 1, "c")]), now_us=now + 995_000)
    assert near == Outcome(Status.DENIED, 5_000, 0)  # until the earliest lease expires
    # "a" renewed; "b" (crashed worker) expires on its own
    await store.apply(Batch(renewals=[(inflight, "a")]), now_us=now + 999_000)
    [after] = await store.apply(Batch([Decision((inflight,), 1, "c")]), now_us=now + 1_000_000)
    assert after.status is Status.ADMITTED
    [full] = await store.apply(Batch([Decision((inflight,), 1, "d")]), now_us=now + 1_000_001)
    assert full.status is Status.DENIED
    [freed] = await store.apply(Batch([Decision((inflight,), 1, "d")],
                                      releases=[(inflight, "a")]), now_us=now + 1_000_002)
    assert freed.status is Status.ADMITTED
