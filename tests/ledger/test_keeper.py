"""LeaseKeeper keeps a running call's lease and says when it is gone."""

from __future__ import annotations

import asyncio

import pytest

from async_toolformer.streams.redis.ledger import (
    Acquired,
    HeldElsewhere,
    InMemoryLedger,
    LeaseKeeper,
    LedgerUnavailableError,
)

from .conftest import LedgerFactory


def token_of(claim: object) -> int:
    assert isinstance(claim, Acquired), claim
    return claim.token


@pytest.mark.connected
async def test_keeper_holds_the_lease_past_its_term(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(lease_ms=150)
    token = token_of(await ledger.claim("c", "w1"))
    async with LeaseKeeper(ledger, "c", token) as keeper:
        await asyncio.sleep(0.5)  # more than three lease terms
        assert isinstance(await ledger.claim("c", "w2"), HeldElsewhere)
    assert keeper.renewals >= 3
    assert not keeper.lost.is_set()
    assert await ledger.complete("c", token, b"done")


@pytest.mark.connected
async def test_keeper_reports_a_lease_taken_over(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(lease_ms=150)
    token = token_of(await ledger.claim("c", "w1"))
    lost_calls: list[str] = []
    async with LeaseKeeper(ledger, "c", token, interval_s=0.05,
                           on_lost=lambda: lost_calls.append("lost")) as keeper:
        await ledger.release("c", token)  # stands in for a takeover after a long pause
        token_of(await ledger.claim("c", "w2"))
        await asyncio.wait_for(keeper.lost.wait(), timeout=2)
    assert lost_calls == ["lost"]


async def test_keeper_on_the_model_clock_loses_to_a_takeover() -> None:
    now = [1_000]
    ledger = InMemoryLedger(lease_ms=100, clock=lambda: now[0])
    token = token_of(await ledger.claim("c", "w1"))
    async with LeaseKeeper(ledger, "c", token, interval_s=0.01) as keeper:
        await asyncio.sleep(0.03)
        assert not keeper.lost.is_set()
        now[0] += 1_000  # the worker stalled: its lease ran out on the ledger's clock
        token_of(await ledger.claim("c", "w2"))
        await asyncio.wait_for(keeper.lost.wait(), timeout=1)


class FlakyLedger(InMemoryLedger):
    """Stops answering renewals while ``down`` is set, as a Redis outage would."""

    down = False

    async def renew(self, call_id: str, token: int, *, lease_ms: int | None = None) -> bool:
        if self.down:
            raise LedgerUnavailableError("redis://nowhere:1/0", ConnectionError("refused"))
        return await super().renew(call_id, token, lease_ms=lease_ms)


async def test_an_outage_longer_than_the_lease_loses_nothing_and_renewal_resumes() -> None:
    now = [1_000]
    ledger = FlakyLedger(lease_ms=100, clock=lambda: now[0])
    token = token_of(await ledger.claim("c", "w1"))
    lost_calls: list[str] = []
    async with LeaseKeeper(ledger, "c", token, interval_s=0.02,
                           on_lost=lambda: lost_calls.append("lost")) as keeper:
        ledger.down = True
        await asyncio.sleep(0.3)  # three lease terms without an answer
        assert keeper.failed_renewals >= 3
        assert not keeper.lost.is_set()
        ledger.down = False
        renewed = keeper.renewals
        async with asyncio.timeout(2):
            while keeper.renewals <= renewed:  # noqa: ASYNC110 - the keeper's public count
                await asyncio.sleep(0.01)
        now[0] += 50  # within the renewed lease on the ledger's clock
        assert isinstance(await ledger.claim("c", "w2"), HeldElsewhere)
    assert lost_calls == []


async def test_a_lease_taken_over_during_an_outage_is_lost_when_redis_answers() -> None:
    now = [1_000]
    ledger = FlakyLedger(lease_ms=100, clock=lambda: now[0])
    token = token_of(await ledger.claim("c", "w1"))
    lost_calls: list[str] = []
    async with LeaseKeeper(ledger, "c", token, interval_s=0.02,
                           on_lost=lambda: lost_calls.append("lost")) as keeper:
        ledger.down = True
        await asyncio.sleep(0.1)
        now[0] += 1_000  # the lease ran out on the ledger's clock and w2 took it
        token_of(await ledger.claim("c", "w2"))
        ledger.down = False
        await asyncio.wait_for(keeper.lost.wait(), timeout=2)
    assert lost_calls == ["lost"]


class CountingLedger(InMemoryLedger):
    """Counts renewals."""

    renewed = 0

    async def renew(self, call_id: str, token: int, *, lease_ms: int | None = None) -> bool:
        self.renewed += 1
        return await super().renew(call_id, token, lease_ms=lease_ms)


async def test_keepers_of_short_calls_share_a_timer_and_never_renew() -> None:
    ledger = CountingLedger(lease_ms=60_000)
    tokens = {f"c{i}": token_of(await ledger.claim(f"c{i}", "w1")) for i in range(200)}
    loop = asyncio.get_running_loop()
    timers = len(loop._scheduled)  # type: ignore[attr-defined]
    for call_id, token in tokens.items():
        async with LeaseKeeper(ledger, call_id, token):
            pass
    assert len(loop._scheduled) - timers <= 2  # type: ignore[attr-defined]
    assert ledger.renewed == 0


async def test_a_keeper_that_outlives_its_tick_still_renews_in_time() -> None:
    ledger = CountingLedger(lease_ms=100)
    short = token_of(await ledger.claim("short", "w1"))
    long = token_of(await ledger.claim("long", "w1"))
    async with LeaseKeeper(ledger, "long", long, interval_s=0.02) as keeper:
        async with LeaseKeeper(ledger, "short", short, interval_s=0.02):
            pass  # leaves the shared tick before it fires
        await asyncio.sleep(0.1)
    assert keeper.renewals >= 3
    assert ledger.renewed == keeper.renewals


def test_keepers_on_a_loop_of_their_own_renew_there() -> None:
    async def renewals_on_a_fresh_loop() -> int:
        ledger = CountingLedger(lease_ms=100)
        token = token_of(await ledger.claim("c", "w1"))
        async with LeaseKeeper(ledger, "c", token, interval_s=0.02) as keeper:
            await asyncio.sleep(0.1)
        return keeper.renewals

    assert asyncio.run(renewals_on_a_fresh_loop()) >= 3
    assert asyncio.run(renewals_on_a_fresh_loop()) >= 3
