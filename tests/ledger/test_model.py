"""The reference state machine, step by step, with an explicit clock."""

from __future__ import annotations

from async_toolformer.streams.redis.ledger import (
    Acquired,
    HeldElsewhere,
    InMemoryLedger,
    LedgerModel,
    Recorded,
)

LEASE = 1_000
RETENTION = 60_000
T0 = 1_000_000


def token_of(claim: object) -> int:
    assert isinstance(claim, Acquired)
    return claim.token


def model() -> LedgerModel:
    return LedgerModel(lease_ms=LEASE, retention_ms=RETENTION)


def test_first_claim_acquires_with_a_token_from_the_clock() -> None:
    m = model()
    assert m.claim("c", "w1", 5_000) == Acquired(5_000, None)
    assert m.current_token("c", 5_000) == 5_000


def test_live_lease_is_held_elsewhere_with_time_left() -> None:
    m = model()
    m.claim("c", "w1", 5_000)
    assert m.claim("c", "w2", 5_400) == HeldElsewhere("w1", 600)
    assert m.claim("c", "w1", 5_999) == HeldElsewhere("w1", 1)


def test_expired_lease_is_taken_over_with_a_larger_token() -> None:
    m = model()
    first = m.claim("c", "w1", 5_000)
    second = m.claim("c", "w2", 6_000)
    assert isinstance(first, Acquired)
    assert second == Acquired(6_000, "w1")
    third = m.claim("c", "w3", 7_000)
    assert third == Acquired(7_000, "w2")


def test_token_grows_by_one_when_clock_does_not_move_past_it() -> None:
    m = LedgerModel(lease_ms=1, retention_ms=RETENTION)
    assert m.claim("c", "w1", 10) == Acquired(10, None)
    assert m.claim("c", "w2", 11) == Acquired(11, "w1")
    assert m.release("c", 11, 11)
    assert m.claim("c", "w3", 11) == Acquired(12, None)


def test_complete_records_once_and_redelivery_is_answered_from_it() -> None:
    m = model()
    token = token_of(m.claim("c", "w1", T0))
    assert m.complete("c", token, b"out", T0 + 10)
    assert m.claim("c", "w2", T0 + 20) == Recorded(b"out")
    assert m.lookup("c", T0 + 20) == b"out"
    assert m.current_token("c", T0 + 20) is None


def test_retry_of_the_recording_complete_says_done_but_changes_nothing() -> None:
    m = model()
    token = token_of(m.claim("c", "w1", T0))
    assert m.complete("c", token, b"first", T0 + 1)
    assert m.complete("c", token, b"second", T0 + 2)
    assert m.lookup("c", T0 + 3) == b"first"


def test_zombie_with_a_stale_token_cannot_record_or_renew() -> None:
    m = model()
    old = token_of(m.claim("c", "w1", T0))
    new = token_of(m.claim("c", "w2", T0 + LEASE))  # w1's lease expired: takeover
    assert not m.renew("c", old, T0 + LEASE + 1)
    assert not m.complete("c", old, b"zombie", T0 + LEASE + 1)
    assert m.complete("c", new, b"new", T0 + LEASE + 2)
    assert not m.complete("c", old, b"zombie", T0 + LEASE + 3)
    assert m.lookup("c", T0 + LEASE + 3) == b"new"


def test_expired_but_untaken_lease_still_records_under_its_token() -> None:
    m = model()
    token = token_of(m.claim("c", "w1", T0))
    assert m.complete("c", token, b"late", T0 + 5 * LEASE)
    assert m.lookup("c", T0 + 5 * LEASE) == b"late"


def test_renew_extends_the_lease() -> None:
    m = model()
    token = token_of(m.claim("c", "w1", T0))
    assert m.renew("c", token, T0 + 900)
    assert m.claim("c", "w2", T0 + 1_500) == HeldElsewhere("w1", 400)


def test_release_gives_a_clean_start_without_takeover() -> None:
    m = model()
    token = token_of(m.claim("c", "w1", T0))
    assert m.release("c", token, T0 + 10)
    assert m.claim("c", "w2", T0 + 20) == Acquired(T0 + 20, None)
    assert not m.release("c", token, T0 + 30)


def test_unknown_call_has_no_token_and_nothing_to_renew() -> None:
    m = model()
    assert m.lookup("c", T0) is None
    assert not m.renew("c", 1, T0)
    assert not m.complete("c", 1, b"x", T0)
    assert not m.release("c", 1, T0)


def test_records_expire_after_retention_and_tokens_keep_growing() -> None:
    m = model()
    token = token_of(m.claim("c", "w1", T0))
    m.complete("c", token, b"out", T0 + 100)
    assert m.lookup("c", T0 + 100 + RETENTION - 1) == b"out"
    assert m.lookup("c", T0 + 100 + RETENTION) is None
    again = token_of(m.claim("c", "w2", T0 + 100 + RETENTION))
    assert again > token


def test_lease_longer_than_retention_keeps_its_entry() -> None:
    m = LedgerModel(lease_ms=RETENTION * 2, retention_ms=RETENTION)
    m.claim("c", "w1", 0)
    assert m.claim("c", "w2", RETENTION + 1) == HeldElsewhere("w1", RETENTION - 1)


async def test_in_memory_ledger_follows_its_clock() -> None:
    now = [0]
    ledger = InMemoryLedger(lease_ms=LEASE, clock=lambda: now[0])
    claim = await ledger.claim("c", "w1")
    assert claim == Acquired(1, None)
    assert await ledger.claim("c", "w2") == HeldElsewhere("w1", LEASE)
    now[0] = LEASE
    taken = await ledger.claim("c", "w2")
    assert taken == Acquired(LEASE, "w1")
    assert await ledger.renew("c", LEASE)
    assert not await ledger.complete("c", 1, b"zombie")
    assert await ledger.complete("c", LEASE, b"ok")
    assert await ledger.lookup("c") == b"ok"
    assert not await ledger.release("c", LEASE)
