"""Generic asyncio helpers: the injectable clock and sleep, waiting on an event, running many.

Nothing here knows about Astria; the board, the fair-use guard, downloads and the transport
share these.
"""

from __future__ import annotations

import asyncio
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
