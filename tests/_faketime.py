"""A fake monotonic clock with a sleep that only returns when the test advances time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable


class FakeTime:
    """`clock()` and `sleep()` for boards and transports: no real sleeping anywhere."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), fut))
        await fut

    @staticmethod
    async def settle(rounds: int = 60) -> None:
        """Let every task run until it blocks again (no I/O in these tests)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    def sleeping(self) -> int:
        """How many sleeps are pending."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    def next_wake(self) -> float | None:
        live = [when for when, _, fut in self._sleepers if not fut.done()]
        return min(live) if live else None

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in order and letting them run."""
        target = self.now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, fut = heapq.heappop(self._sleepers)
            if fut.done():
                continue
            self.now = max(self.now, when)
            fut.set_result(None)
            await self.settle()
        self.now = target
        await self.settle()

    async def run_until(self, done: Callable[[], bool], limit: float = 10_000.0) -> None:
        """Jump from wake-up to wake-up until `done()` or `limit` seconds passed."""
        end = self.now + limit
        await self.settle()
        while not done():
            wake = self.next_wake()
            if wake is None or wake > end:
                raise AssertionError(f"stuck at t={self.now} (next wake {wake})")
            await self.advance(wake - self.now)
