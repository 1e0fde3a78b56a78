"""Generic asyncio helpers: the injectable clock and sleep, waiting on an event, running many.

Nothing here knows about Astria; the board, the fair-use guard, downloads and the transport
share these.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable
from types import TracebackType
from typing import Any, TypeVar

R = TypeVar("R")

Sleep = Callable[[float], Awaitable[None]]
"""`asyncio.sleep`, or a test's fake sleep that returns when the test advances time."""

Clock = Callable[[], float]
"""Monotonic seconds: `time.monotonic`, or a test's fake clock."""


async def wait_event(event: asyncio.Event, timeout: float | None, sleep: Sleep) -> None:
    """Until `event` is set or `timeout` seconds pass on the injected `sleep`."""
    if event.is_set():
        return
    if timeout is None:
        await event.wait()
        return
    tasks = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(sleep(max(0.0, timeout)))}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_all(aws: Iterable[Awaitable[R]]) -> list[R]:
    """Run all concurrently; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Limiter:
    """A counting semaphore whose uncontended take and give are plain calls.

    `asyncio.Semaphore` runs seven Python frames and a generator for each `async with`, even
    with a slot free; the transport takes one slot for every request (issue #16). Here a free
    slot is `try_take()`, a counter decrement. Waiters are served first come, first served: a
    slot given back while someone waits goes straight to the first waiter still waiting, so a
    newcomer never takes it first, and a waiter cancelled just after it was handed a slot
    passes the slot on. Also an async context manager (`async with limiter:`).
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        """Slots nobody holds (0 while anyone waits)."""
        return self._free

    def try_take(self) -> bool:
        """Take a slot if one is free now; False otherwise (then `await take()`)."""
        # A free slot means nobody waits: `give` hands slots to waiters before freeing one.
        if self._free:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """Take a slot, waiting in line for one if none is free."""
        if self.try_take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed a slot as it was cancelled: the next in line gets it
            else:
                with contextlib.suppress(ValueError):  # a `give` may have skipped it
                    self._waiters.remove(waiter)
            raise

    def give(self) -> None:
        """Give back a slot: to the first waiter still waiting, else to the free count."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    # Plain methods returning awaitables, not coroutines: a free slot makes no coroutine at
    # all, and one waited for makes only `take`'s (a download queued behind the limit holds
    # one coroutine fewer; issue #16).
    def __aenter__(self) -> Awaitable[None]:
        return _READY if self.try_take() else self.take()

    def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                  tb: TracebackType | None) -> Awaitable[None]:
        self.give()
        return _READY


class _Ready:
    """An awaitable that is done at once (`await` on it returns None, suspending nothing)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, Any, None]:
        yield from ()


_READY = _Ready()


class Stalled(Exception):
    """Raised by a `Watch` when what it watched made no progress for its limit."""


_UNSEEN = object()


class Watchdog:
    """One timer for every transfer it watches: a watch whose progress stays the same for
    `limit` seconds has its task cancelled, and its block raises `Stalled` instead of
    `CancelledError`.

    The timer ticks every `limit / CHECKS` seconds while something is watched, so a stall is
    noticed `limit` to `limit * (1 + 1 / CHECKS)` seconds after the last progress. One timer
    for all, not one per transfer: arming and cancelling a timer for each file was a tenth of
    what a download costs over raw aiohttp (issue #16); a watch is now a dict entry. aiohttp's
    own read timeout (`sock_read`) moves a timer on every socket read instead, 16 for a 1 MB
    image.
    """

    CHECKS = 4

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._watches: dict[Watch, None] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, progress: Callable[[], object] = lambda: None) -> Watch:
        """A block that is cancelled when `progress()` stays the same for `limit` seconds."""
        return Watch(self, progress)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handle = loop.call_at(loop.time() + self.limit / self.CHECKS, self._tick, loop)

    def running_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop of the armed timer (the running one, while anything is watched), else
        None: `asyncio.current_task(loop)` then needs no `get_running_loop()` (a getpid(2))."""
        return self._loop if self._handle is not None else None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for watch in list(self._watches):
            seen = watch.progress()
            if seen != watch.last:
                watch.last, watch.since = seen, now
            elif now - watch.since >= self.limit:
                self._fire(watch)
        self._handle = None
        if self._watches:
            self._arm(loop)

    def _fire(self, watch: Watch) -> None:
        del self._watches[watch]
        if watch.task is not None:
            watch.fired = True
            watch.task.cancel()


class Watch:
    """One transfer watched by a `Watchdog` (an async context manager around the transfer).

    What is watched may change while the block runs (`follow`).
    """

    __slots__ = ("fired", "last", "progress", "since", "task", "watchdog")

    def __init__(self, watchdog: Watchdog, progress: Callable[[], object]) -> None:
        self.watchdog = watchdog
        self.progress = progress
        self.fired = False
        # What `progress()` said when it last changed, and the loop time the watchdog saw it
        # change: `_UNSEEN` until its next tick, which counts it as progress (no clock read
        # per transfer).
        self.last: object = _UNSEEN
        self.since = 0.0
        self.task: asyncio.Task[object] | None = None

    @property
    def limit(self) -> float:
        """Seconds without progress that make a stall."""
        return self.watchdog.limit

    def follow(self, progress: Callable[[], object]) -> None:
        """Watch `progress` from now on; the change itself counts as progress."""
        self.progress, self.last = progress, _UNSEEN

    async def __aenter__(self) -> Watch:
        # The watchdog's side is written out here and in __aexit__, not in methods of its
        # own: two calls fewer on every download (issue #16).
        dog = self.watchdog
        self.task = asyncio.current_task(dog.running_loop())
        dog._watches[self] = None
        if dog._handle is None:
            dog._arm(asyncio.get_running_loop())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> None:
        dog = self.watchdog
        dog._watches.pop(self, None)
        if not dog._watches and dog._handle is not None:
            dog._handle.cancel()  # nothing left to watch: no timer keeps ticking
            dog._handle = None
        if not self.fired:
            return
        task = self.task
        # The cancellation was ours; another one requested meanwhile still propagates.
        if sys.version_info >= (3, 11) and task is not None and task.uncancel() > 0:
            return
        if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            raise Stalled(f"no progress for {self.limit:g} s") from None
