"""Group commit: the "about to create" marks of every job ready at once, in one durable write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from ._journal import Mark, MarkRefused

Write = Callable[[Sequence[Mark]], Awaitable[float]]


class GroupCommit:
    """Collects marks while a write is under way and journals them together.

    The first job to mark writes alone (nothing waits for company, so the first create is not
    delayed); marks that arrive meanwhile are written by the next writer as one group. Each
    `mark` returns only once its own mark is durable: the create may be sent after that.
    """

    def __init__(self, write: Write) -> None:
        self._write = write
        self._queue: list[tuple[Mark, asyncio.Future[float]]] = []
        self._lock = asyncio.Lock()
        self.groups = 0  # writes made (benchmarks report marks per write)

    async def mark(self, key: str, cost_mc: int) -> float:
        """Journal that `key` is about to be created; returns the time journaled."""
        mine: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.append((Mark(key, cost_mc), mine))
        async with self._lock:
            if not mine.done():
                group, self._queue = self._queue, []
                refused: dict[str, BaseException] = {}
                try:
                    at = await self._write([m for m, _ in group])
                except MarkRefused as exc:  # a shared journal: only those jobs are not marked
                    at, refused = exc.at, dict(exc.refused)
                except asyncio.CancelledError:
                    # Only this job was cancelled: the others go to the next writer.
                    self._queue[:0] = [entry for entry in group if entry[1] is not mine]
                    raise
                except BaseException as exc:
                    for _, future in group:
                        if future is not mine:
                            future.set_exception(exc)
                    raise
                self.groups += 1
                for mark, future in group:
                    if mark.key in refused:
                        future.set_exception(refused[mark.key])
                    else:
                        future.set_result(at)
        return mine.result()
