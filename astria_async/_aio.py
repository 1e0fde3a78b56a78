"""Generic asyncio helpers: the injectable clock and sleep, waiting on an event, running many.

Nothing here knows about Astria; the board, the fair-use guard, downloads and the transport
share these.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

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


class Stalled(Exception):
    """Raised by `StallWatch` when what it watched made no progress for its limit."""


class StallWatch:
    """Cancel the task in this block when `progress()` stays the same for `limit` seconds;
    the block then raises `Stalled` instead of `CancelledError`.

    One timer, looking at the counter every `limit / CHECKS` seconds: a stall is noticed
    `limit` to `limit * (1 + 1 / CHECKS)` seconds after the last progress. aiohttp's own read
    timeout (`sock_read`) instead moves a timer on every socket read, 16 for a 1 MB image:
    ~150 µs of CPU a file, most of what downloads cost over raw aiohttp (issue #16).
    What is watched may change while the block runs (`follow`).
    """

    CHECKS = 4

    def __init__(self, limit: float, progress: Callable[[], object] = lambda: None) -> None:
        self.limit = limit
        self.progress = progress
        self.fired = False
        self._last: object = None  # what `progress()` said at the last check
        self._quiet = 0  # checks in a row without progress
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.TimerHandle | None = None

    def follow(self, progress: Callable[[], object]) -> None:
        """Watch `progress` from now on; the change itself counts as progress."""
        self.progress, self._last, self._quiet = progress, progress(), 0

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._handle = loop.call_at(loop.time() + self.limit / self.CHECKS, self._check)

    def _check(self) -> None:
        now = self.progress()
        if now != self._last:
            self._last, self._quiet = now, 0
        else:
            self._quiet += 1
            if self._quiet >= self.CHECKS and self._task is not None:
                self.fired = True
                self._task.cancel()
                return
        self._arm()

    async def __aenter__(self) -> StallWatch:
        self._task = asyncio.current_task()
        self._last = self.progress()
        self._arm()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if not self.fired:
            return
        task = self._task
        # The cancellation was ours; another one requested meanwhile still propagates.
        if sys.version_info >= (3, 11) and task is not None and task.uncancel() > 0:
            return
        if exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            raise Stalled(f"no progress for {self.limit:g} s") from None
