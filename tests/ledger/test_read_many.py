"""``read_many``: the records of many calls (and whose they are) in one round trip, as a
replay reads them."""

from __future__ import annotations

import pytest

from async_toolformer.streams.redis.ledger import Acquired, LedgerEntryError

from .conftest import LedgerFactory

pytestmark = pytest.mark.connected


async def test_records_in_order_and_none_for_leased_or_missing(make_ledger: LedgerFactory
                                                                ) -> None:
    ledger = make_ledger(compress_above_bytes=64)
    ids = [f"c{i}" for i in range(7)]
    claims = await ledger.claim_many([(c, "w1") for c in ids])
    tokens = {c: claim.token for c, claim in zip(ids, claims, strict=True)
              if isinstance(claim, Acquired)}
    assert len(tokens) == len(ids)
    big = b'{"output":"' + b"x" * 500 + b'"}'  # stored compressed
    recorded = {"c0": b'{"n":0}', "c2": big, "c5": b'{"n":5}'}
    assert all(await ledger.complete_many([(c, tokens[c], r) for c, r in recorded.items()]))

    [claim] = await ledger.claim_many([("f1", "w1")], fingerprints=["ab12"])
    assert isinstance(claim, Acquired)
    assert await ledger.complete_many([("f1", claim.token, b'{"n":"f"}')], fingerprints=["ab12"])

    asked = [*ids, "never-claimed", "c2", "f1"]
    found = await ledger.read_many(asked, chunk=3)
    entries = await ledger.entries_many(asked, chunk=3)

    assert found == [recorded.get(c) for c in ids] + [None, big, b'{"n":"f"}']
    assert entries == [None if c not in recorded else ("", recorded[c]) for c in ids] + [
        None, ("", big), ("ab12", b'{"n":"f"}')]
    assert await ledger.read_many([]) == []


async def test_a_foreign_string_is_refused(make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    await ledger.redis.set(ledger.key("odd"), b"not a record")
    await ledger.redis.rpush(ledger.key("listy"), b"x")

    assert await ledger.read_many(["listy"]) == [None]  # not a record: nothing to re-emit
    with pytest.raises(LedgerEntryError, match="odd"):
        await ledger.read_many(["c1", "odd"])
