"""WaitPolicy, the cost model, and the board's logic on a fake clock with an in-memory source."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from _faketime import FakeTime

from astria_async import WaitPolicy
from astria_async._config import BOARD_LAST_FETCHES, PAGE_LIMIT
from astria_async.errors import (
    APIResponseValidationError,
    AuthenticationError,
    ClientClosedError,
    NotFoundError,
    RateLimitError,
    ServerError,
    WaitTimeoutError,
)
from astria_async.models import Prompt
from astria_async.waiting import board as board_module
from astria_async.waiting.board import Board

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FAST = WaitPolicy(interval=2.0, multiplier=1.5, max_interval=10.0, jitter=0.0, timeout=900.0)


# --- the board ---------------------------------------------------------------------------------


@attrs.define
class Source:
    """An in-memory API: objects, which of them the list shows, a call log and faults."""

    time: FakeTime
    objects: dict[int, Prompt] = attrs.field(factory=dict)
    unlisted: set[int] = attrs.field(factory=set)
    calls: list[tuple[float, str, int | None]] = attrs.field(factory=list)
    errors: list[Exception] = attrs.field(factory=list)  # raised by the next calls, in order
    missing: set[int] = attrs.field(factory=set)
    rewrite: Callable[[list[Any]], list[Any]] | None = None  # what the server does to a page

    def add(self, oid: int, *, done: bool = False, error: str | None = None,
            listed: bool = True) -> None:
        self.objects[oid] = _prompt(oid, done=done, error=error)
        if not listed:
            self.unlisted.add(oid)

    def finish(self, oid: int, *, error: str | None = None) -> None:
        self.objects[oid] = _prompt(oid, done=error is None, error=error, minutes=1)

    def _fault(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    async def one(self, oid: int) -> Prompt:
        self.calls.append((self.time.now, "one", oid))
        self._fault()
        if oid in self.missing or oid not in self.objects:
            raise NotFoundError("not found", status=404)
        return self.objects[oid]

    async def page(self, before_id: int | None, parent: int | None = None) -> list[Any]:
        self.calls.append((self.time.now, "page", before_id))
        self._fault()
        ids = sorted((i for i, obj in self.objects.items() if i not in self.unlisted
                      and (before_id is None or i < before_id)
                      and (parent is None or obj.tune_id == parent)), reverse=True)
        items = [_raw(self.objects[i]) for i in ids[:PAGE_LIMIT]]
        return items if self.rewrite is None else self.rewrite(items)

    def build(self, item: Any) -> Prompt:
        if item.get("created_at") == "not a time":  # what a strict source cannot read
            raise APIResponseValidationError("bad created_at", field="created_at", body=item)
        return Prompt.from_dict(item)

    def count(self, kind: str | None = None) -> int:
        return sum(1 for c in self.calls if kind is None or c[1] == kind)


def _raw(prompt: Prompt) -> Mapping[str, Any]:
    return prompt.raw or {"id": prompt.id, "text": prompt.text, "images": list(prompt.images),
                          "user_error": prompt.user_error,
                          "updated_at": prompt.updated_at and prompt.updated_at.isoformat()}


def _prompt(oid: int, *, done: bool = False, error: str | None = None,
            minutes: int = 0) -> Prompt:
    return Prompt(id=oid, text="x", images=(f"https://img/{oid}",) if done else (),
                  user_error=error, updated_at=T0 + timedelta(minutes=minutes))


@pytest.fixture
def source(ft: FakeTime) -> Source:
    return Source(ft)


@pytest.fixture
def board(ft: FakeTime, source: Source) -> Iterator[Board[Prompt]]:
    yield Board("prompt", source, done=lambda p: p.is_finished, clock=ft.clock,
                sleep=ft.sleep, concurrency=4, rand=lambda: 0.5)


def _waits(board: Board[Prompt], ids: list[int],
           policy: WaitPolicy = FAST) -> list[asyncio.Task[Prompt]]:
    return [asyncio.ensure_future(board.wait(i, policy)) for i in ids]


async def test_many_waiters_cost_a_few_pages_per_tick(ft: FakeTime, source: Source,
                                                      board: Board[Prompt]) -> None:
    for i in range(1, 1001):  # 500 older objects nobody waits on, then the 500 watched
        source.add(i)
    ids = list(range(501, 1001))
    tasks = _waits(board, ids)
    await ft.settle()
    # First tick at once (no state yet): ceil(500/120) = 5 pages, not 500 GETs.
    assert source.count("page") == 5 and source.count("one") == 0
    for t in (2.0, 3.0, 4.5):  # the next ticks follow the backoff: 2, 3, 4.5 s
        await ft.advance(t - 0.01)
        before = source.count()
        await ft.advance(0.01)
        assert source.count() - before == 5
    for i in ids:
        source.finish(i)
    await ft.run_until(lambda: all(t.done() for t in tasks))
    assert all(t.result().succeeded for t in tasks)
    assert board.ticks == 5 and board.requests == 25 == source.count("page")
    assert board.watched == 0
    await ft.settle()
    assert board._task is None  # the refresher is gone once nobody watches


async def test_few_waiters_use_single_gets(ft: FakeTime, source: Source,
                                           board: Board[Prompt]) -> None:
    for i in range(1, 300):
        source.add(i)
    tasks = _waits(board, [10, 20, 30])
    await ft.settle()
    assert source.count("one") == 3 and source.count("page") == 0
    source.finish(10)
    source.finish(20)
    source.finish(30)
    await ft.run_until(lambda: all(t.done() for t in tasks))
    assert source.count("page") == 0


async def test_sparse_ids_fall_back_to_singles_and_learn(ft: FakeTime, source: Source,
                                                        board: Board[Prompt]) -> None:
    for i in range(1, 2001):
        source.add(i)
    ids = [5, 500, 1000, 1500, 1990]  # a page each: 5 singles are as cheap
    tasks = _waits(board, ids)
    await ft.settle()
    assert source.count("page") == 1 and source.count("one") == 4
    await ft.advance(2.0)
    assert source.count("page") == 1 and source.count("one") == 9  # learned: singles only
    for i in ids:
        source.finish(i)
    await ft.run_until(lambda: all(t.done() for t in tasks))


async def test_old_account_pages_only_where_the_watched_ids_are(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    for i in range(1, 20_101):
        source.add(i)
    ids = list(range(1, 101))  # 20,000 newer objects: one page, not 168
    tasks = _waits(board, ids)
    await ft.settle()
    assert [c[1:] for c in source.calls] == [("page", 101)]
    await ft.advance(2.0)
    assert source.count("page") == 2 and source.count("one") == 0
    for i in ids:
        source.finish(i)
    await ft.run_until(lambda: all(t.done() for t in tasks))


async def test_unfinished_list_states_nobody_reads_keep_only_a_signature(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    for i in range(1, 11):
        source.add(i)
    tasks = _waits(board, [3, 5, 7, 9])
    seen: list[Prompt] = []
    updates = asyncio.ensure_future(board.wait(5, FAST, on_update=seen.append))
    await ft.settle()
    assert source.count("page") == 1 and source.count("one") == 0
    # The plain waits read only the state that ends them; the on_update one reads all.
    assert board.known(3) and board.get(3) is None and board.get(5) == source.objects[5]
    source.objects[3] = attrs.evolve(source.objects[3], updated_at=T0 + timedelta(seconds=5))
    await ft.advance(2.0)
    assert board.known(3) and board.get(3) is None and not tasks[0].done()
    for i in (3, 5, 7, 9):
        source.finish(i)
    await ft.run_until(lambda: all(t.done() for t in [*tasks, updates]))
    assert [t.result() for t in tasks] == [source.objects[i] for i in (3, 5, 7, 9)]
    assert seen == [_prompt(5), source.objects[5]]
    assert source.count("one") == 0


async def _four_waiting(ft: FakeTime, source: Source, board: Board[Prompt],
                       policy: WaitPolicy = FAST) -> list[asyncio.Task[Prompt]]:
    """Plain waits on 3, 5, 7 and 9 of 10 listed objects, after their first tick."""
    for i in range(1, 11):
        source.add(i)
    tasks = _waits(board, [3, 5, 7, 9], policy)
    await ft.settle()
    return tasks


async def _cancel(ft: FakeTime, tasks: list[asyncio.Task[Prompt]]) -> None:
    for task in tasks:
        task.cancel()
    await ft.settle()


async def test_an_every_state_watcher_joining_reads_the_state_in_full(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    tasks = await _four_waiting(ft, source, board)
    assert board.get(7) is None
    states = board.states(7, FAST)
    first = asyncio.ensure_future(anext(states))
    await ft.settle()  # not primed by a signature: read in full at the next allowed tick
    assert not first.done()
    await ft.advance(2.0)
    assert first.result() == source.objects[7] and source.count("page") == 2
    await states.aclose()
    await _cancel(ft, tasks)


async def test_a_timeout_fetches_a_last_state_kept_only_as_a_signature(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    tasks = await _four_waiting(ft, source, board, attrs.evolve(FAST, timeout=30))
    assert board.get(3) is None
    await ft.advance(30.0)
    errors = [t.exception() for t in tasks]
    assert all(isinstance(e, WaitTimeoutError) for e in errors)
    assert [e.last for e in errors if isinstance(e, WaitTimeoutError)] == [
        source.objects[i] for i in (3, 5, 7, 9)]
    assert source.count("one") == 4  # one GET each, at the timeout only
    assert board.watched == 0


async def test_a_mass_timeout_fetches_a_bounded_number_of_last_states(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    # A stalled account times out every wait at once: the last states fetched for their
    # errors are bounded, not one GET per waiter.
    for i in range(1, 201):
        source.add(i)
    tasks = _waits(board, list(range(1, 201)), attrs.evolve(FAST, timeout=30))
    await ft.settle()
    await ft.advance(30.0)
    errors = [t.exception() for t in tasks]
    assert all(isinstance(e, WaitTimeoutError) for e in errors)
    assert source.count("one") == BOARD_LAST_FETCHES
    assert sum(1 for e in errors if isinstance(e, WaitTimeoutError) and e.last is not None) \
        == BOARD_LAST_FETCHES


async def test_a_timeout_whose_last_state_cannot_be_fetched_carries_what_was_seen(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    tasks = await _four_waiting(ft, source, board, attrs.evolve(FAST, timeout=30))
    await ft.advance(29.0)
    source.errors += [ServerError("gateway down", status=502)] * 4
    await ft.advance(1.0)
    errors = [t.exception() for t in tasks]
    # Only signatures were kept and the GETs failed: no state to carry, the wait still ends.
    assert [type(e) for e in errors] == [WaitTimeoutError] * 4
    assert all(isinstance(e, WaitTimeoutError) and e.last is None for e in errors)


async def test_a_stale_full_state_does_not_replace_a_newer_signature(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    tasks = await _four_waiting(ft, source, board)
    stale = attrs.evolve(source.objects[3], updated_at=T0 - timedelta(seconds=5))
    assert not board.feed(stale) and board.get(3) is None
    assert board.feed(attrs.evolve(source.objects[3], updated_at=T0 + timedelta(seconds=5)))
    assert board.get(3) is not None
    await _cancel(ft, tasks)


async def test_an_unreadable_list_item_is_skipped_and_fetched_singly(
        ft: FakeTime, source: Source, board: Board[Prompt],
        caplog: pytest.LogCaptureFixture) -> None:
    for i in range(1, 11):
        source.add(i)
    bad = {"id": 5, "text": "x", "created_at": "not a time", "images": []}
    source.rewrite = lambda items: [bad if item["id"] == 5 else item
                                    for item in items] + [{"id": None}]
    tasks = _waits(board, [3, 5, 7, 9])
    await ft.settle()
    # The page fed 3, 7 and 9; 5 (unreadable there) came by a single GET.
    assert [c[1:] for c in source.calls] == [("page", 10), ("one", 5)]
    assert all(board.known(i) for i in (3, 5, 7, 9))
    await ft.advance(2.0)
    await ft.advance(3.0)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2  # once per object and field, not per tick
    assert "prompt 5" in skipped[0] and "created_at" in skipped[0]
    assert "without an id" in skipped[1]
    for i in (3, 5, 7, 9):
        source.finish(i)
    await ft.run_until(lambda: all(t.done() for t in tasks))


async def test_a_diluted_account_list_switches_to_each_tunes_list(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    # Watched prompts of tune 1 every 100th id; the account's other prompts fill the gaps.
    for i in range(1, 12_001):
        source.objects[i] = Prompt.from_dict(
            {"id": i, "tune_id": 1 if i % 100 == 0 else 2, "text": "x",
             "updated_at": T0.isoformat()})
    ids = list(range(100, 12_001, 100))  # 120 ids over 12,000: 100 account pages
    tasks = _waits(board, ids)
    await ft.settle(600)
    first = [c for c in source.calls if c[0] == 0.0]
    assert 50 <= len(first) < len(ids) and {c[1] for c in first} == {"page"}
    await ft.advance(2.0)  # the tune's own list: one page of 120
    assert [c[1:] for c in source.calls[len(first):]] == [("page", 12_001)]
    await ft.advance(3.0)  # learned: the tune's list stays cheaper
    assert [c[1:] for c in source.calls[len(first):]] == [("page", 12_001)] * 2
    for i in ids:
        source.finish(i)
    await ft.run_until(lambda: all(t.done() for t in tasks))


async def test_ids_the_list_does_not_show_are_fetched_singly(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    for i in range(1, 11):
        source.add(i, listed=i != 7)  # 7: e.g. a gallery object or another workspace
    tasks = _waits(board, [3, 5, 7, 9])
    await ft.settle()
    assert [c[1:] for c in source.calls] == [("page", 10), ("one", 7)]
    source.finish(3)
    source.finish(5)
    source.finish(7)
    source.finish(9)
    await ft.run_until(lambda: all(t.done() for t in tasks))


async def test_refreshes_at_most_once_per_interval(ft: FakeTime, source: Source,
                                                   board: Board[Prompt]) -> None:
    for i in range(1, 6):
        source.add(i)
    first = _waits(board, [1])
    await ft.advance(1.0)
    later = _waits(board, [2])  # a new id wants data now, but the last tick is 1 s old
    await ft.settle()
    assert source.count() == 1
    await ft.advance(0.99)
    assert source.count() == 1
    await ft.advance(0.01)
    assert board.ticks == 2  # one tick covering both ids, 2 s after the first
    assert sorted(c for c in source.calls[1:]) == [(2.0, "one", 1), (2.0, "one", 2)]
    for t in first + later:
        t.cancel()
    await ft.settle()


async def test_rate_limit_pauses_every_waiter(ft: FakeTime, source: Source,
                                              board: Board[Prompt]) -> None:
    for i in range(1, 11):
        source.add(i)
    source.errors.append(RateLimitError("slow down", status=429, retry_after=30.0))
    tasks = _waits(board, list(range(1, 11)))
    await ft.settle()
    assert source.count() == 1  # the 429
    await ft.advance(29.9)
    assert source.count() == 1  # nobody polled during the pause
    for i in range(1, 11):
        source.finish(i)
    await ft.advance(0.1)
    assert source.count() == 2
    await ft.settle()
    assert all(t.done() and t.result().succeeded for t in tasks)


async def test_rate_limit_without_retry_after_backs_off(ft: FakeTime, source: Source,
                                                        board: Board[Prompt]) -> None:
    source.add(1)
    source.errors += [RateLimitError("x", status=429), RateLimitError("x", status=429)]
    task = _waits(board, [1])[0]
    await ft.settle()
    await ft.advance(4.9)
    assert source.count() == 1
    await ft.advance(0.1)  # 5 s pause, then the second 429 doubles it to 10 s
    assert source.count() == 2
    await ft.advance(9.9)
    assert source.count() == 2
    await ft.advance(0.1)
    assert source.count() == 3
    task.cancel()
    await ft.settle()


async def test_deadline_raises_wait_timeout_with_last_state(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    source.add(42)
    task = asyncio.ensure_future(board.wait(42, attrs.evolve(FAST, timeout=30)))
    await ft.advance(29.9)
    assert not task.done()
    await ft.advance(0.1)
    exc = task.exception()
    assert isinstance(exc, WaitTimeoutError) and isinstance(exc, TimeoutError)
    assert exc.object_id == 42 and exc.kind == "prompt"
    assert exc.last == source.objects[42]
    assert "wait_images(42)" in str(exc)
    assert board.watched == 0


async def test_cancel_one_waiter_others_finish(ft: FakeTime, source: Source,
                                               board: Board[Prompt]) -> None:
    for i in range(1, 21):
        source.add(i)
    tasks = _waits(board, list(range(1, 21)))
    twin = asyncio.ensure_future(board.wait(5, FAST))  # a second waiter on the same id
    await ft.settle()
    tasks[4].cancel()
    tasks[9].cancel()
    await ft.advance(2.0)
    assert board.watched == 19  # id 5 still watched by its twin, id 10 dropped
    for i in range(1, 21):
        source.finish(i)
    await ft.run_until(lambda: twin.done() and all(t.done() for t in tasks))
    assert tasks[4].cancelled() and tasks[9].cancelled()
    assert twin.result().id == 5
    assert sum(1 for t in tasks if not t.cancelled() and t.result().succeeded) == 18


async def test_feed_ends_the_wait_before_the_next_poll(ft: FakeTime, source: Source,
                                                       board: Board[Prompt]) -> None:
    source.add(1)
    task = _waits(board, [1])[0]
    await ft.settle()
    polls = source.count()
    finished = _prompt(1, done=True, minutes=2)
    assert board.feed(finished)
    await ft.settle()
    assert task.done() and task.result() == finished
    assert source.count() == polls  # no poll was needed
    # A refresh that started before the callback cannot put it back to "running".
    assert not board.feed(_prompt(1, minutes=3))
    assert board.get(1) == finished


async def test_feed_before_the_wait_starts(ft: FakeTime, source: Source,
                                           board: Board[Prompt]) -> None:
    board.feed(_prompt(8, done=True))
    result = await board.wait(8, FAST)
    assert result.succeeded and source.count() == 0


async def test_older_state_never_replaces_newer(board: Board[Prompt]) -> None:
    assert board.feed(_prompt(1, minutes=5))
    assert not board.feed(_prompt(1, minutes=4))
    assert board.get(1).updated_at == T0 + timedelta(minutes=5)  # type: ignore[union-attr]


async def test_failed_prompt_finishes_the_wait(ft: FakeTime, source: Source,
                                               board: Board[Prompt]) -> None:
    source.add(1)
    task = _waits(board, [1])[0]
    await ft.settle()
    source.finish(1, error="flagged")
    await ft.advance(2.0)
    assert task.result().is_failed and task.result().user_error == "flagged"


async def test_not_found_and_auth_errors_end_waits(ft: FakeTime, source: Source,
                                                   board: Board[Prompt]) -> None:
    source.add(1)
    source.missing.add(2)
    ok, gone = _waits(board, [1, 2])
    await ft.settle()
    assert isinstance(gone.exception(), NotFoundError)
    assert not ok.done()
    source.errors.append(AuthenticationError("bad key", status=401))
    await ft.advance(2.0)
    assert isinstance(ok.exception(), AuthenticationError)


async def test_transient_errors_are_retried_next_tick(ft: FakeTime, source: Source,
                                                      board: Board[Prompt]) -> None:
    source.add(1)
    source.errors += [ServerError("boom", status=500), ServerError("boom again", status=502)]
    task = _waits(board, [1])[0]
    await ft.settle()
    assert board.get(1) is None and isinstance(board.last_error, ServerError)
    await ft.advance(2.0)
    assert board.get(1) is None and "boom again" in str(board.last_error)
    await ft.advance(3.0)
    assert board.get(1) is not None and board.last_error is None and not task.done()
    source.finish(1)
    await ft.advance(4.5)
    assert task.result().succeeded and board.ticks == 4


async def test_timeout_message_names_the_last_refresh_error(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    source.errors += [ServerError("gateway down", status=502)] * 5
    task = asyncio.ensure_future(board.wait(1, attrs.evolve(FAST, timeout=3)))
    await ft.run_until(task.done)
    assert "gateway down" in str(task.exception())


async def test_on_update_and_states_see_each_change(ft: FakeTime, source: Source,
                                                    board: Board[Prompt]) -> None:
    source.add(1)
    seen: list[Prompt] = []
    task = asyncio.ensure_future(board.wait(1, FAST, on_update=seen.append))
    await ft.settle()
    await ft.advance(2.0)  # unchanged: no update
    source.objects[1] = _prompt(1, minutes=1)
    await ft.advance(3.0)
    source.finish(1)
    source.objects[1] = _prompt(1, done=True, minutes=2)
    await ft.advance(4.5)
    assert task.done()
    assert [p.updated_at for p in seen] == [T0 + timedelta(minutes=m) for m in (0, 1, 2)]
    assert seen[-1].succeeded


async def test_as_completed_yields_in_finishing_order(ft: FakeTime, source: Source,
                                                      board: Board[Prompt]) -> None:
    for i in (1, 2, 3):
        source.add(i)
    order: list[int] = []

    async def consume() -> None:
        async for p in board.as_completed([1, 2, 3], FAST):
            order.append(p.id)

    task = asyncio.ensure_future(consume())
    await ft.settle()
    source.finish(3)
    await ft.advance(2.0)
    board.feed(_prompt(1, done=False, error="bad", minutes=3))  # failed ones are yielded too
    await ft.settle()
    source.finish(2)
    await ft.run_until(task.done)
    assert order == [3, 1, 2]
    task.result()


async def test_close_wakes_waiters_and_leaves_no_task(ft: FakeTime, source: Source,
                                                      board: Board[Prompt]) -> None:
    for i in range(1, 6):
        source.add(i)
    tasks = _waits(board, list(range(1, 6)))
    await ft.settle()
    assert board._task is not None
    await board.aclose()
    await ft.settle()
    assert all(isinstance(t.exception(), ClientClosedError) for t in tasks)
    assert board._task is None
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert not [t for t in others if not t.done()]
    with pytest.raises(ClientClosedError):
        await board.wait(1, FAST)


# --- waits registered in a later pass (100,000 started by one gather) ----------------------


async def test_news_before_a_started_wait_is_registered_ends_it(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    source.add(1)
    task = _waits(board, [1])[0]
    await asyncio.sleep(0)  # its first step ran: it looked, found nothing, and sleeps
    finished = _prompt(1, done=True, minutes=2)
    assert board.feed(finished)  # a callback, before the board registered the wait
    await ft.settle()
    assert task.done() and task.result() == finished
    assert source.count() == 0 and board.watched == 0


async def test_a_wait_cancelled_before_it_is_registered_leaves_nothing(
        ft: FakeTime, source: Source, board: Board[Prompt],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(board_module, "ADMIT_CHUNK", 1)  # one registered per pass
    source.add(1)
    source.add(2)
    board.feed(_prompt(1))  # a known state: only its deadline ends the first wait
    first = asyncio.ensure_future(board.wait(1, attrs.evolve(FAST, timeout=5.0)))
    second = _waits(board, [2])[0]
    await asyncio.sleep(0)
    second.cancel()  # it leaves in the next pass, where only the first is registered
    await ft.settle()
    assert second.cancelled() and board.watched_ids() == [1]
    await ft.advance(6.0)  # the first one's deadline is kept
    assert isinstance(first.exception(), WaitTimeoutError)
    assert source.count("page") == 0


async def test_close_before_a_started_wait_is_registered_ends_it(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    source.add(1)
    task = _waits(board, [1])[0]
    await asyncio.sleep(0)
    await board.aclose()
    await ft.settle()
    assert isinstance(task.exception(), ClientClosedError)
    assert board._task is None and source.count() == 0
