"""The demultiplexer alone: which waiter gets which record, from where, and in what order."""

from __future__ import annotations

from async_toolformer.streams.client.demux import Demux, Waiter


def _waiter(key: bytes, start: int) -> tuple[Waiter[str], list[str]]:
    got: list[str] = []
    waiter: Waiter[str] = Waiter(key, got.append)
    waiter.next_offset = start
    return waiter, got


def _feed(demux: Demux[str], records: list[tuple[bytes | None, int, str]]) -> list[int]:
    """Route records as the follower does; return the offsets that were decoded."""
    decoded = []
    for key, offset, value in records:
        if key is not None and demux.wants(key, offset):
            decoded.append(offset)
            demux.route(key, offset, value)
    return decoded


def test_each_key_gets_its_own_records_and_only_wanted_ones_are_decoded() -> None:
    demux: Demux[str] = Demux()
    a, got_a = _waiter(b"a", 0)
    b, got_b = _waiter(b"b", 0)
    demux.add(a)
    demux.add(b)

    decoded = _feed(demux, [(b"a", 0, "a0"), (b"c", 1, "c1"), (b"b", 2, "b2"), (None, 3, "m"),
                            (b"a", 4, "a4")])

    assert got_a == ["a0", "a4"]
    assert got_b == ["b2"]
    assert decoded == [0, 2, 4]  # neither the other key nor the unkeyed marker


def test_a_waiter_gets_nothing_before_its_start_and_no_offset_twice() -> None:
    demux: Demux[str] = Demux()
    early, got_early = _waiter(b"k", 0)
    late, got_late = _waiter(b"k", 2)
    demux.add(early)
    demux.add(late)

    _feed(demux, [(b"k", 1, "k1"), (b"k", 2, "k2")])
    _feed(demux, [(b"k", 1, "k1"), (b"k", 2, "k2"), (b"k", 3, "k3")])  # read again

    assert got_early == ["k1", "k2", "k3"]
    assert got_late == ["k2", "k3"]
    assert not demux.wants(b"k", 3)


def test_a_waiter_not_yet_placed_gets_nothing() -> None:
    demux: Demux[str] = Demux()
    got: list[str] = []
    demux.add(Waiter(b"k", got.append))

    assert _feed(demux, [(b"k", 0, "k0")]) == []
    assert got == []


def test_a_held_waiter_gets_its_history_first_then_what_was_held() -> None:
    demux: Demux[str] = Demux()
    waiter, got = _waiter(b"k", 5)
    waiter.hold()
    demux.add(waiter)

    _feed(demux, [(b"k", 5, "k5"), (b"k", 6, "k6")])
    assert got == []
    waiter.release(["k1", "k3"])
    _feed(demux, [(b"k", 7, "k7")])

    assert got == ["k1", "k3", "k5", "k6", "k7"]


def test_removed_waiters_stop_and_a_failing_handler_spares_the_others() -> None:
    demux: Demux[str] = Demux()

    def fail(value: str) -> None:
        raise RuntimeError(value)

    bad: Waiter[str] = Waiter(b"k", fail)
    bad.next_offset = 0
    good, got = _waiter(b"k", 0)
    gone, got_gone = _waiter(b"k", 0)
    for waiter in (bad, good, gone):
        demux.add(waiter)
    demux.remove(gone)
    demux.remove(gone)  # twice is harmless

    _feed(demux, [(b"k", 0, "k0")])

    assert got == ["k0"]
    assert got_gone == []
    assert len(demux) == 2
    demux.remove(bad)
    demux.remove(good)
    assert len(demux) == 0
    assert not demux.wants(b"k", 1)
