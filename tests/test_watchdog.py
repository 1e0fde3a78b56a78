"""The downloads' stall watchdog: one timer for every transfer, a stall cancels only its own."""

from __future__ import annotations

import asyncio

import pytest

from astria_async._aio import Stalled, Watchdog


async def _transfer(dog: Watchdog, seconds: float, progress: bool) -> str:
    """Runs `seconds` inside a watch; counts progress every 20 ms when `progress`."""
    count = 0
    async with dog.watch(lambda: count):
        for _ in range(round(seconds / 0.02)):
            await asyncio.sleep(0.02)
            count += progress
    return "done"


async def test_a_stalled_transfer_fails_and_the_others_go_on() -> None:
    dog = Watchdog(0.2)
    results = await asyncio.gather(_transfer(dog, 0.6, True), _transfer(dog, 0.6, False),
                                   _transfer(dog, 0.6, True), return_exceptions=True)
    assert results[0] == results[2] == "done"
    assert isinstance(results[1], Stalled)
    assert "no progress for 0.2 s" in str(results[1])


async def test_a_stall_is_noticed_after_the_limit_not_before() -> None:
    dog = Watchdog(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Stalled):
        await _transfer(dog, 2.0, False)
    # Between the limit and the limit plus one tick (a quarter of it), and some slack.
    assert 0.2 <= loop.time() - started < 0.2 * (1 + 1 / Watchdog.CHECKS) + 0.15


async def test_many_transfers_share_one_timer_and_none_is_left_after() -> None:
    dog = Watchdog(60)
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]
    gate = asyncio.Event()

    async def transfer() -> None:
        async with dog.watch():
            await gate.wait()

    tasks = [asyncio.ensure_future(transfer()) for _ in range(50)]
    await asyncio.sleep(0)
    timers = [h for h in loop._scheduled  # type: ignore[attr-defined]
              if not h.cancelled()]
    assert len(timers) - before <= 1  # one tick for 50 transfers, not 50 timers
    gate.set()
    await asyncio.gather(*tasks)
    assert dog._handle is None and not dog._watches  # nothing watched: no timer ticks on


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    dog = Watchdog(0.1)
    task = asyncio.ensure_future(_transfer(dog, 2.0, True))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not dog._watches
