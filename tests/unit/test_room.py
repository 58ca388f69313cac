"""The in-flight cap: places are never lost or doubled, and waiters are served in order."""

from __future__ import annotations

import asyncio

import pytest

from async_toolformer.agents.executor.room import Room


async def test_takes_up_to_its_size_then_waits_for_a_place_given_back() -> None:
    room = Room(2)
    assert room.try_take()
    assert room.try_take()
    assert not room.try_take()
    waiting = asyncio.create_task(room.take())
    await asyncio.sleep(0)
    assert not waiting.done()
    room.give_back()
    await asyncio.wait_for(waiting, 1)
    assert room.free == 0


async def test_waiters_are_served_in_order_and_nobody_overtakes_them() -> None:
    room = Room(1)
    await room.take()
    served: list[int] = []

    async def ask(n: int) -> None:
        await room.take()
        served.append(n)

    waiters = [asyncio.create_task(ask(n)) for n in range(3)]
    await asyncio.sleep(0)
    room.give_back()
    assert not room.try_take()  # the place went to the first waiter, not to a newcomer
    for _ in range(3):
        await asyncio.sleep(0)
        room.give_back()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert served == [0, 1, 2]
    assert room.free == 1


async def test_a_cancelled_waiter_leaves_no_place_lost() -> None:
    room = Room(1)
    await room.take()
    gone = asyncio.create_task(room.take())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    room.give_back()
    assert room.free == 1
    assert room.try_take()


async def test_a_waiter_cancelled_as_it_is_handed_a_place_passes_it_on() -> None:
    room = Room(1)
    await room.take()
    first = asyncio.create_task(room.take())
    second = asyncio.create_task(room.take())
    await asyncio.sleep(0)
    room.give_back()  # the place is handed to ``first`` ...
    first.cancel()  # ... which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert room.free == 0


def test_a_room_has_at_least_one_place() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Room(0)
