"""A waiter's registration on a board, and the one timer that ends every waiter's deadline.

What a waiter holds while it waits is kept small, because 10,000 of them may wait at once:
no task of its own, no `asyncio.Event` (a deque each), no timer. It sleeps on a bare future
made only while it sleeps; the board wakes it when one of its objects changes, and a
`Deadlines` heap — one per board, run by one timer task on the injected clock and sleep —
wakes it when its deadline passes. The waiter then sees the clock past its deadline and
raises. Each waiter once had a sleep task and an `asyncio.wait` of its own (~12 KB each,
and 10,000 of them at once kept the garbage collector busy for most of a second).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any

import attrs

from .._aio import Clock, Sleep, wait_event
from ..errors import WaitTimeoutError
from .policy import WaitPolicy


@attrs.define(eq=False)
class Watcher:
    """One waiter's registration: its ids, its pace, its deadline, and how it is woken."""

    ids: tuple[int, ...]  # distinct
    policy: WaitPolicy
    interval: float
    due: float
    primed: bool
    deadline: float | None = None  # on the board's clock; None: no deadline
    every: bool = False  # reads every state, not only the one that ends its wait
    active: bool = True  # False once unwatched
    woken: bool = False  # a wake not yet slept through
    _sleeper: asyncio.Future[None] | None = None

    def wake(self) -> None:
        """End the current `sleep`, or the next one if the waiter is not sleeping now."""
        self.woken = True
        sleeper = self._sleeper
        if sleeper is not None and not sleeper.done():
            sleeper.set_result(None)

    async def sleep(self) -> None:
        """Until `wake` is called (at once if it was called since the last sleep)."""
        if not self.woken:
            self._sleeper = asyncio.get_running_loop().create_future()
            try:
                await self._sleeper
            finally:
                self._sleeper = None
        self.woken = False


class Deadlines:
    """Wakes each watcher whose deadline passed: one heap and one timer task per board.

    The timer sleeps until the earliest deadline (on the injected `sleep`, so fake clocks
    need no real sleeping); it runs while some watcher has a deadline and is gone after.
    Entries of watchers that left are dropped when they come up, or all at once when they
    outnumber the live ones, so the heap stays within twice the live watchers.
    """

    def __init__(self, name: str, clock: Clock, sleep: Sleep) -> None:
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self._heap: list[tuple[float, int, Watcher]] = []
        self._order = itertools.count()  # ties in deadline never compare watchers
        self._live = 0  # watchers added and not yet discarded
        self._changed = asyncio.Event()  # an earlier deadline, or nobody left
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Entries in the heap (live or not); for tests."""
        return len(self._heap)

    def add(self, watcher: Watcher) -> None:
        """Wake `watcher` once the clock reaches `watcher.deadline` (which must be set)."""
        assert watcher.deadline is not None
        heapq.heappush(self._heap, (watcher.deadline, next(self._order), watcher))
        self._live += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"{self.name}-deadlines")
        elif self._heap[0][2] is watcher:
            self._changed.set()

    def discard(self, watcher: Watcher) -> None:
        """Forget an added watcher (call after `watcher.active` went False)."""
        self._live -= 1
        if not self._live:
            self._heap.clear()
            self._changed.set()
        elif len(self._heap) > 2 * self._live + 64:
            self._heap = [entry for entry in self._heap if entry[2].active]
            heapq.heapify(self._heap)

    async def _run(self) -> None:
        try:
            while self._live:
                self._changed.clear()
                now = self.clock()
                heap = self._heap
                while heap and heap[0][0] <= now:
                    watcher = heapq.heappop(heap)[2]
                    if watcher.active:
                        watcher.wake()
                # All woken (they leave soon) or an earlier deadline came: sleep until news.
                await wait_event(self._changed, heap[0][0] - now if heap else None, self.sleep)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def aclose(self) -> None:
        """Stop the timer task."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def timeout_error(kind: str, oid: int, policy: WaitPolicy, last: Any,
                  last_error: BaseException | None, waiting: int = 1,
                  paused: str | None = None) -> WaitTimeoutError:
    """The error for a wait on `oid` (a tune or a prompt) that passed its deadline.

    `paused` says why waits are paused right now (a 429 and the request it answered); it is
    the reason given then, rather than the last refresh failure.
    """
    verb = "trained" if kind == "tune" else "finished"
    method = "tunes.wait_trained" if kind == "tune" else "prompts.wait_images"
    what = f"{kind} {oid}"
    if waiting > 1:
        what += f" (and {waiting - 1} more)"
    why = f"; {paused}" if paused else f"; last refresh failed: {last_error}" if last_error else ""
    return WaitTimeoutError(
        f"{what} was not {verb} within {policy.timeout:g} s{why}; it keeps "
        f"running at Astria: resume with client.{method}({oid})",
        kind=kind, object_id=oid, last=last)
