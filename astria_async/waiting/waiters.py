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
import collections
import heapq
from collections.abc import Callable
from typing import Any

import attrs

from .._aio import Clock, Sleep, wait_event
from .._fields_repr import fields_repr
from ..errors import WaitTimeoutError
from .policy import WaitPolicy


@attrs.define(eq=False)
class Watcher:
    """One waiter's registration: its ids, its pace, its deadline, and how it is woken."""

    __repr__ = fields_repr

    ids: tuple[int, ...]  # distinct
    policy: WaitPolicy
    interval: float
    due: float
    primed: bool
    deadline: float | None = None  # on the board's clock; None: no deadline
    every: bool = False  # reads every state, not only the one that ends its wait
    active: bool = True  # False once unwatched
    woken: bool = False  # a wake not yet slept through
    admitted: bool = False  # registered on its board (not only in its intake)
    _sleeper: asyncio.Future[None] | None = None

    def __lt__(self, other: Watcher) -> bool:
        # The deadline heap holds the watchers themselves (a (deadline, n, watcher) entry
        # each cost ~100 bytes and a tracked object at 100,000 waiters); only those with a
        # deadline are in it.
        return (self.deadline or 0.0) < (other.deadline or 0.0)

    def wake(self) -> None:
        """End the current sleep, or the next one if the waiter is not sleeping now."""
        self.woken = True
        sleeper = self._sleeper
        if sleeper is not None and not sleeper.done():
            sleeper.set_result(None)

    def sleeper(self) -> asyncio.Future[None] | None:
        """What to await until `wake` is called; None if it was called since the last sleep.

        A bare future, awaited by the waiter's own coroutine: a `sleep()` coroutine of its
        own cost every waiter a frame (~200 bytes) and the collector one more object.
        """
        if self.woken:
            self.woken = False
            return None
        self._sleeper = sleeper = asyncio.get_running_loop().create_future()
        return sleeper

    async def sleep(self) -> None:
        """Until `wake` is called (at once if it was called since the last sleep)."""
        sleeper = self.sleeper()
        if sleeper is not None:
            await sleeper
            self.woken = False


class Waker:
    """Wakes watchers at most `chunk` per pass of the event loop; the rest in later passes.

    A wake resumes a waiting task, which then runs in the loop's next pass: waking 100,000
    at once (a tick that finishes every prompt, a mass timeout) made one pass run 100,000
    task steps and held the loop for seconds. Past `chunk` wakes in one pass the rest wait
    in a queue, `chunk` of them per later pass, in order; other tasks run between chunks.
    """

    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self._budget = chunk  # wakes left in this pass
        self._queue: collections.deque[Watcher] = collections.deque()
        self._scheduled = False  # a `_flush` is due in the next pass

    def __len__(self) -> int:
        """Wakes queued for later passes; for tests."""
        return len(self._queue)

    def wake(self, watcher: Watcher) -> None:
        """Wake `watcher` now, or in a later pass if this pass's chunk is spent."""
        if self._budget > 0 and not self._queue:
            self._budget -= 1
            watcher.wake()
        else:
            self._queue.append(watcher)
        if not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a feed from plain code): nothing runs to chunk
                self._flush()
                return
            self._scheduled = True
            loop.call_soon(self._flush)  # runs in the next pass: a new chunk then

    def _flush(self) -> None:
        self._scheduled = False
        self._budget = self.chunk
        queue = self._queue
        while queue and self._budget > 0:
            self._budget -= 1
            queue.popleft().wake()
        if queue:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)


class Deadlines:
    """Wakes each watcher whose deadline passed: one heap and one timer task per board.

    The timer sleeps until the earliest deadline (on the injected `sleep`, so fake clocks
    need no real sleeping); it runs while some watcher has a deadline and is gone after.
    Entries of watchers that left are dropped when they come up, or all at once when they
    outnumber the live ones, so the heap stays within twice the live watchers.
    """

    def __init__(self, name: str, clock: Clock, sleep: Sleep,
                 wake: Callable[[Watcher], None] | None = None) -> None:
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self._wake = wake or Watcher.wake  # the board's `Waker`: a mass timeout in chunks
        self._heap: list[Watcher] = []  # ordered by deadline (`Watcher.__lt__`)
        self._live = 0  # watchers added and not yet discarded
        self._changed = asyncio.Event()  # an earlier deadline, or nobody left
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """Entries in the heap (live or not); for tests."""
        return len(self._heap)

    def add(self, watcher: Watcher) -> None:
        """Wake `watcher` once the clock reaches `watcher.deadline` (which must be set)."""
        assert watcher.deadline is not None
        heapq.heappush(self._heap, watcher)
        self._live += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"{self.name}-deadlines")
        elif self._heap[0] is watcher:
            self._changed.set()

    def discard(self, watcher: Watcher) -> None:
        """Forget an added watcher (call after `watcher.active` went False)."""
        self._live -= 1
        if not self._live:
            self._heap.clear()
            self._changed.set()
        elif len(self._heap) > 2 * self._live + 64:
            self._heap = [entry for entry in self._heap if entry.active]
            heapq.heapify(self._heap)

    async def _run(self) -> None:
        try:
            while self._live:
                self._changed.clear()
                now = self.clock()
                heap = self._heap
                while heap and (heap[0].deadline or 0.0) <= now:
                    watcher = heapq.heappop(heap)
                    if watcher.active:
                        self._wake(watcher)
                # All woken (they leave soon) or an earlier deadline came: sleep until news.
                left = (heap[0].deadline or 0.0) - now if heap else None
                await wait_event(self._changed, left, self.sleep)
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
