"""The board's refresher starts in an empty context, not in the first waiter's."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import datetime, timezone
from typing import Any

from astria_async import WaitPolicy
from astria_async.models import Prompt
from astria_async.waiting.board import Board

trace: contextvars.ContextVar[str] = contextvars.ContextVar("trace", default="none")


class Source:
    """Records the tracing context each refresh runs in; the prompt is done on the 2nd call."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def one(self, oid: int) -> Prompt:
        self.seen.append(trace.get())
        done = len(self.seen) > 1
        return Prompt(id=oid, text="x", images=("https://img/1",) if done else (),
                      updated_at=datetime(2026, 1, 1, tzinfo=timezone.utc))

    async def page(self, before_id: int | None, parent: int | None = None) -> list[Any]:
        raise AssertionError("one id is refreshed alone")

    def build(self, item: Any) -> Prompt:
        raise AssertionError("one id is refreshed alone")


async def test_refresher_does_not_inherit_the_first_waiters_context() -> None:
    source = Source()
    board: Board[Prompt] = Board("prompt", source, done=lambda p: bool(p.images))
    policy = WaitPolicy(interval=0.01, max_interval=0.01, jitter=0.0, timeout=5)

    async def request(name: str) -> Prompt:
        trace.set(name)  # what a tracing middleware does per request
        return await board.wait(1, policy)

    try:
        first = await asyncio.create_task(request("request-1"))
    finally:
        await board.aclose()
    assert first.images and source.seen and set(source.seen) == {"none"}
