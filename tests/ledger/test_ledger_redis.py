"""The Lua scripts on a real Redis, on the server's own clock."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.asyncio import Redis

from async_toolformer.streams.redis.ledger import (
    Acquired,
    ExecutionLedger,
    HeldElsewhere,
    LedgerConfigError,
    LedgerEntryError,
    LedgerUnavailableError,
    Recorded,
)

from .conftest import LedgerFactory

pytestmark = pytest.mark.connected


def token_of(claim: object) -> int:
    assert isinstance(claim, Acquired), claim
    return claim.token


async def test_claim_hold_takeover_and_fencing(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(lease_ms=150)
    first = await ledger.claim("c1", "w1")
    assert isinstance(first, Acquired)
    assert first.takeover_from is None
    held = await ledger.claim("c1", "w2")
    assert isinstance(held, HeldElsewhere)
    assert held.owner == "w1"
    assert 0 < held.expires_in_ms <= 150
    await asyncio.sleep(0.2)
    second = await ledger.claim("c1", "w2")
    assert isinstance(second, Acquired)
    assert second.takeover_from == "w1"
    assert second.token > first.token
    assert not await ledger.renew("c1", first.token)
    assert not await ledger.complete("c1", first.token, b"zombie")
    assert await ledger.complete("c1", second.token, b"fresh")
    assert await ledger.claim("c1", "w3") == Recorded(b"fresh")
    assert await ledger.lookup("c1") == b"fresh"


async def test_renewed_lease_outlives_its_first_term(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(lease_ms=200)
    token = token_of(await ledger.claim("c", "w1"))
    for _ in range(3):
        await asyncio.sleep(0.1)
        assert await ledger.renew("c", token)
    assert isinstance(await ledger.claim("c", "w2"), HeldElsewhere)


async def test_release_lets_the_next_claim_start_clean(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    token = token_of(await ledger.claim("c", "w1"))
    assert await ledger.release("c", token)
    again = await ledger.claim("c", "w2")
    assert isinstance(again, Acquired)
    assert again.takeover_from is None
    assert again.token > token


async def test_namespaces_are_separate_ledgers(make_ledger: LedgerFactory) -> None:
    live, fresh = make_ledger(), make_ledger()
    token = token_of(await live.claim("c", "w"))
    await live.complete("c", token, b"done")
    assert isinstance(await fresh.claim("c", "w"), Acquired)


async def test_large_result_is_compressed_and_round_trips(
    make_ledger: LedgerFactory, ledger_redis: Redis
) -> None:
    ledger = make_ledger(compress_above_bytes=256)
    result = b'{"text": "' + b"lorem ipsum " * 2_000 + b'"}'
    token = token_of(await ledger.claim("big", "w"))
    assert await ledger.complete("big", token, result)
    assert await ledger_redis.strlen(ledger.key("big")) < len(result) // 10
    assert await ledger.lookup("big") == result
    assert await ledger.claim("big", "w2") == Recorded(result)


async def test_record_carries_the_retention_ttl(
    make_ledger: LedgerFactory, ledger_redis: Redis
) -> None:
    ledger = make_ledger(retention_s=300, lease_ms=1_000)
    token = token_of(await ledger.claim("c", "w"))
    leased_ttl = await ledger_redis.pttl(ledger.key("c"))
    assert 299_000 < leased_ttl <= 300_000
    assert await ledger.complete("c", token, b"x")
    assert 299_000 < await ledger_redis.pttl(ledger.key("c")) <= 300_000


async def test_record_disappears_after_retention(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(retention_s=0.3, lease_ms=100)
    token = token_of(await ledger.claim("c", "w"))
    await ledger.complete("c", token, b"x")
    await asyncio.sleep(0.4)
    assert await ledger.lookup("c") is None
    again = await ledger.claim("c", "w")
    assert token_of(again) > token


async def test_concurrent_single_calls_share_round_trips(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(max_batch=256)
    claims = await asyncio.gather(*(ledger.claim(f"c{i}", "w") for i in range(1_000)))
    assert all(isinstance(c, Acquired) for c in claims)
    assert ledger.batches_sent <= 8
    done = await asyncio.gather(*(ledger.complete(f"c{i}", token_of(c), b"r%d" % i)
                                  for i, c in enumerate(claims)))
    assert all(done)
    looked = await ledger.lookup_many([f"c{i}" for i in range(1_000)])
    assert looked == [b"r%d" % i for i in range(1_000)]


async def test_same_call_twice_in_one_batch_is_claimed_once(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    first, second = await asyncio.gather(ledger.claim("c", "w1"), ledger.claim("c", "w2"))
    assert isinstance(first, Acquired)
    assert second == HeldElsewhere("w1", ledger.lease_ms)


async def test_unreachable_redis_names_its_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ledger = ExecutionLedger.from_url(f"redis://127.0.0.1:{port}/3")
    with pytest.raises(LedgerUnavailableError, match=rf"redis://127\.0\.0\.1:{port}/3"):
        await ledger.claim("c", "w")
    with pytest.raises(LedgerUnavailableError, match="REDIS_URL"):
        await ledger.ping()
    await ledger.aclose()


async def test_decoding_client_is_refused(redis_url: str) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(LedgerConfigError, match="decode_responses=False"):
        ExecutionLedger(client)
    await client.aclose()


def test_lease_must_be_shorter_than_retention(ledger_redis: Redis) -> None:
    with pytest.raises(LedgerConfigError, match="retention_s"):
        ExecutionLedger(ledger_redis, lease_ms=10_000, retention_s=5)


async def test_foreign_key_under_the_prefix_is_reported(
    make_ledger: LedgerFactory, ledger_redis: Redis
) -> None:
    ledger = make_ledger()
    await ledger_redis.rpush(ledger.key("list"), b"x")
    await ledger_redis.set(ledger.key("str"), b"not a record")
    with pytest.raises(LedgerEntryError, match="own namespace"):
        await ledger.claim("list", "w")
    with pytest.raises(LedgerEntryError, match="own namespace"):
        await ledger.complete("list", 1, b"{}")
    with pytest.raises(LedgerEntryError, match="not a ledger record"):
        await ledger.lookup("str")
    with pytest.raises(LedgerEntryError):
        await ledger.claim("str", "w")  # a string is taken for a record, and this one is not
    with pytest.raises(LedgerEntryError):
        await ledger.complete("str", 1, b"{}")


async def test_mixed_leases_in_one_batch_each_get_their_own(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger(lease_ms=1_000)
    short, long = await asyncio.gather(ledger.claim("s", "w1", lease_ms=200),
                                       ledger.claim("l", "w2", lease_ms=60_000))
    assert ledger.batches_sent == 1
    held_short, held_long = await ledger.claim_many([("s", "w3"), ("l", "w3")])
    assert isinstance(held_short, HeldElsewhere)
    assert isinstance(held_long, HeldElsewhere)
    assert held_short.expires_in_ms <= 200
    assert held_long.expires_in_ms > 59_000
    renewed = await asyncio.gather(ledger.renew("s", token_of(short), lease_ms=30_000),
                                   ledger.renew("l", token_of(long), lease_ms=100))
    assert list(renewed) == [True, True]
    held_short, held_long = await ledger.claim_many([("s", "w3"), ("l", "w3")])
    assert isinstance(held_short, HeldElsewhere)
    assert isinstance(held_long, HeldElsewhere)
    assert held_long.expires_in_ms <= 100
    assert held_short.expires_in_ms > 29_000


async def test_empty_batches_answer_empty(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    assert await ledger.claim_many([]) == []
    assert await ledger.renew_many([]) == []
    assert await ledger.complete_many([]) == []
    assert await ledger.lookup_many([]) == []
