"""The board with many waiters, cheaply: work and sizes are counted, not timed (fake clock)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from _faketime import FakeTime

from astria_async import WaitPolicy
from astria_async._config import WAKE_CHUNK
from astria_async.errors import WaitTimeoutError
from astria_async.models import Prompt
from astria_async.waiting.board import Board

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
POLICY = WaitPolicy(interval=2.0, multiplier=1.0, max_interval=2.0, jitter=0.0, timeout=None)


class CountedId(int):
    """An id that counts how often it is hashed: once per dict or set lookup of it."""

    hashes = 0

    def __hash__(self) -> int:
        CountedId.hashes += 1
        return int.__hash__(self)


class Source:
    """Every prompt exists and keeps running; with `hang` each request waits forever."""

    def __init__(self) -> None:
        self.hang = False
        self.calls = 0

    async def _request(self) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()

    async def one(self, oid: int) -> Prompt:
        await self._request()
        return _prompt(oid)

    async def page(self, before_id: int | None, parent: int | None = None) -> list[Any]:
        await self._request()
        return []  # the list shows nothing: each id is fetched singly

    def build(self, item: Any) -> Prompt:
        return Prompt.from_dict(item)


def _prompt(oid: int) -> Prompt:
    return Prompt(id=oid, text="x", updated_at=T0)


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def board(ft: FakeTime, source: Source) -> Iterator[Board[Prompt]]:
    yield Board("prompt", source, done=lambda p: p.is_finished, clock=ft.clock,
                sleep=ft.sleep, concurrency=4, rand=lambda: 0.5)


async def test_a_feed_costs_the_same_however_many_states_are_watched(
        ft: FakeTime, source: Source) -> None:
    # More watched states than the cap: spare ones must be found without a look at each
    # stored state per feed (10,000 waiters made every tick O(n^2) that way).
    board: Board[Prompt] = Board("prompt", source, done=lambda p: p.is_finished,
                                 clock=ft.clock, sleep=ft.sleep, state_cap=64)
    n = 1000
    watched = [CountedId(i) for i in range(1, n + 1)]
    spare = [CountedId(i) for i in range(n + 1, 2 * n + 1)]
    watcher = board.watch(watched, POLICY)
    CountedId.hashes = 0
    for oid in watched + spare:  # the watched first: a scan from the oldest meets them all
        board.feed(_prompt(oid))
    feeds = 2 * n
    # A few lookups a feed (~5); a scan of the stored states hashed 3,000,000 times.
    assert CountedId.hashes <= 10 * feeds
    assert all(board.get(oid) is not None for oid in watched)  # watched states all stay
    assert [oid for oid in spare if board.get(oid) is not None] == spare[-64:]  # the newest
    board.unwatch(watcher)
    assert sum(board.get(oid) is not None for oid in watched + spare) == 64


async def test_deadlines_end_waits_on_time_while_a_refresh_hangs(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    source.hang = True
    tasks = [asyncio.ensure_future(board.wait(i, attrs.evolve(POLICY, timeout=10.0 + i)))
             for i in range(1, 51)]
    await ft.settle()
    assert source.calls == 1  # the first tick's request never answers
    assert ft.sleeping() == 1  # one timer for the 50 deadlines, none per waiter
    await ft.advance(35.5)
    assert [t.done() for t in tasks] == [i <= 25 for i in range(1, 51)]
    await ft.advance(30.0)
    for oid, task in enumerate(tasks, 1):
        exc = task.exception()
        assert isinstance(exc, WaitTimeoutError) and exc.object_id == oid
    assert board.watched == 0 and len(board._deadlines) == 0
    await board.aclose()
    await ft.settle()
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert not [t for t in others if not t.done()]


async def test_cancelled_waits_leave_no_deadline_behind(ft: FakeTime,
                                                       board: Board[Prompt]) -> None:
    policy = attrs.evolve(POLICY, timeout=100.0)
    tasks = [asyncio.ensure_future(board.wait(i, policy)) for i in range(1, 1001)]
    await ft.settle()
    for task in tasks[10:]:
        task.cancel()
    await ft.settle()
    assert board.watched == 10
    assert len(board._deadlines) <= 2 * 10 + 64  # the heap forgets the cancelled ones
    await ft.advance(99.0)
    assert not any(t.done() for t in tasks[:10])  # their deadlines did not move
    await ft.advance(1.0)
    assert all(isinstance(t.exception(), WaitTimeoutError) for t in tasks[:10])
    await ft.settle()
    assert board._task is None and board._deadlines._task is None and ft.sleeping() == 0


async def test_waits_started_one_by_one_do_not_each_replan_the_refresher(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    # Waking the refresher re-plans over every watched id: one wake per new wait made 10,000
    # waits started one after another O(n^2). A new wait wakes it only to tick sooner.
    n = 1000
    ids = [CountedId(i) for i in range(1, n + 1)]
    for oid in ids:
        board.feed(_prompt(oid))  # known states: each wait wants its first tick in 2 s
    CountedId.hashes = 0
    tasks = []
    for oid in ids:
        tasks.append(asyncio.ensure_future(board.wait(oid, POLICY)))
        await ft.settle(5)
    # ~9 lookups a wait; a re-plan per wait looked each watched id up: 759,000 for 1,000.
    assert CountedId.hashes <= 30 * n
    assert source.calls == 0
    await ft.advance(2.0)
    assert board.ticks == 1 and source.calls == 1 + n  # one tick for all, on time
    for task in tasks:
        task.cancel()
    await ft.settle()


async def test_waiters_finished_in_one_pass_resume_in_chunks_with_the_loop_free_between(
        board: Board[Prompt]) -> None:
    # One tick (or a burst of callbacks) that finishes every watched prompt in one pass of
    # the loop: the waiters resume WAKE_CHUNK per pass and another task runs between chunks
    # (100,000 woken at once held the loop for seconds).
    n = 1000
    tasks = [asyncio.ensure_future(board.wait(i, POLICY)) for i in range(1, n + 1)]
    await FakeTime.settle()
    assert not any(t.done() for t in tasks)
    returned = [0]  # waiters returned, as seen by another task at each of its steps

    async def observe() -> None:
        while returned[-1] < n:
            await asyncio.sleep(0)
            returned.append(sum(t.done() for t in tasks))

    observer = asyncio.ensure_future(observe())
    for oid in range(1, n + 1):
        board.feed(attrs.evolve(_prompt(oid), images=(f"https://img/{oid}",)))
    results = await asyncio.gather(*tasks)
    await observer
    assert [p.id for p in results] == list(range(1, n + 1))
    assert all(p.images == (f"https://img/{p.id}",) for p in results)
    chunks = [b - a for a, b in itertools.pairwise(returned)]
    assert max(chunks) <= WAKE_CHUNK < n  # never all at once
    assert sum(1 for c in chunks if c) >= n // WAKE_CHUNK  # the observer ran between chunks
    assert len(board._waker) == 0
