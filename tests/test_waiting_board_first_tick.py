"""The board's first tick on an old account, counted in requests (no time asserted).

Watched prompts of a few tunes spread among many prompts of another tune: the account list
is diluted, each watched tune's own list is not. What the board knows of their tunes decides
what the first tick costs: nothing (waits by id), or everything (waits given `Prompt`s).
"""

from __future__ import annotations

import asyncio

import pytest
from _faketime import FakeTime
from test_waiting_board import FAST, T0, Source

from astria_async.models import Prompt
from astria_async.waiting.board import Board

WIDTH = 8  # the board's share of the client's requests (the client's default)
BUSY = 99  # the tune of every prompt nobody waits on
EVERY = 150  # a watched prompt every 150 ids: an account page (120) shows at most one


def _spread(source: Source, watched: int, every: int, tunes: int | None) -> list[int]:
    """`watched` prompts, one every `every` ids among BUSY's, on `tunes` tunes round robin
    (None: each on a tune of its own); returns their ids."""
    ids = []
    for oid in range(1, watched * every + 1):
        mine = oid % every == 0
        if mine:
            ids.append(oid)
        tune = BUSY if not mine else (1 + len(ids) % tunes if tunes else 1000 + oid)
        source.objects[oid] = Prompt.from_dict({"id": oid, "tune_id": tune, "text": "x",
                                                "updated_at": T0.isoformat()})
    return ids


@pytest.fixture
def board(ft: FakeTime, source: Source) -> Board[Prompt]:
    return Board("prompt", source, done=lambda p: p.is_finished, clock=ft.clock,
                 sleep=ft.sleep, concurrency=WIDTH, rand=lambda: 0.5)


@pytest.fixture
def source(ft: FakeTime) -> Source:
    return Source(ft)


async def _first_tick(ft: FakeTime, board: Board[Prompt], waits: list[asyncio.Task[Prompt]],
                      ids: list[int]) -> None:
    await ft.run_until(lambda: board.ticks == 1)  # at once, or an interval on if primed
    await ft.settle(2_000)
    assert board.ticks == 1 and all(board.known(oid) for oid in ids)


async def _end(ft: FakeTime, source: Source, ids: list[int],
               waits: list[asyncio.Task[Prompt]]) -> None:
    for oid in ids:
        source.finish(oid)
    await ft.run_until(lambda: all(w.done() for w in waits))
    assert all(w.result().succeeded for w in waits)


async def test_waits_by_id_learn_the_tunes_from_a_few_gets_not_one_each(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    ids = _spread(source, 100, EVERY, tunes=10)
    waits = [asyncio.ensure_future(board.wait(oid, FAST)) for oid in ids]
    await _first_tick(ft, board, waits, ids)
    # One account page (it shows the list is diluted: 1 of 150 is watched), then a few single
    # GETs tell tunes whose own lists (one short page each) show every other watched prompt.
    # Each tune's list is read once; probes are spread, so few land on a tune already known.
    singles, pages = source.count("one"), source.count("page")
    assert pages == 1 + 10 and singles <= 2 * 10
    assert singles + pages <= 30  # it was 100: one account page and 99 single GETs
    first = len(source.calls)
    await ft.advance(FAST.interval)  # then each tune's own list: one page each
    assert [c[1] for c in source.calls[first:]] == ["page"] * 10
    await _end(ft, source, ids, waits)


async def test_waits_given_prompts_use_their_tunes_lists_at_the_first_tick(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    ids = _spread(source, 100, EVERY, tunes=10)
    waits = [asyncio.ensure_future(board.wait(oid, FAST, initial=source.objects[oid]))
             for oid in ids]
    await _first_tick(ft, board, waits, ids)
    # The tunes are known: one account page, then one page of each tune's own list.
    assert source.count("one") == 0 and source.count("page") == 1 + 10  # was 1 + 99 GETs
    await _end(ft, source, ids, waits)


async def test_prompts_each_on_its_own_tune_cost_one_probe_wave_more_than_single_gets(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    ids = _spread(source, 100, EVERY, tunes=None)
    waits = [asyncio.ensure_future(board.wait(oid, FAST)) for oid in ids]
    await _first_tick(ft, board, waits, ids)
    # The first tunes' lists showed nothing more: the rest came by single GETs at once.
    assert source.count("one") == 99 and source.count("page") <= 1 + WIDTH
    first = len(source.calls)
    await ft.advance(FAST.interval)  # learned: single GETs from now on
    assert [c[1] for c in source.calls[first:]] == ["one"] * 100
    await _end(ft, source, ids, waits)


async def test_objects_without_a_parent_list_cost_single_gets_only(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    for oid in range(1, 100 * EVERY + 1):  # no tune_id: a kind without per-parent lists
        source.add(oid)
    ids = list(range(EVERY, 100 * EVERY + 1, EVERY))
    waits = [asyncio.ensure_future(board.wait(oid, FAST)) for oid in ids]
    await _first_tick(ft, board, waits, ids)
    assert source.count("page") == 1 and source.count("one") == 99
    await _end(ft, source, ids, waits)


async def test_ids_the_list_does_not_show_are_not_looked_for_in_their_tunes_lists(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    ids = list(range(1, 11))  # of another workspace, say: neither list shows them
    for oid in range(1, 31):
        source.objects[oid] = Prompt.from_dict({"id": oid, "tune_id": 7, "text": "x",
                                                "updated_at": T0.isoformat()})
    source.unlisted.update(ids)
    waits = [asyncio.ensure_future(board.wait(oid, FAST, initial=source.objects[oid]))
             for oid in ids]
    await _first_tick(ft, board, waits, ids)
    assert [c[1] for c in source.calls] == ["page"] + ["one"] * 10
    await _end(ft, source, ids, waits)


async def test_a_first_tick_with_known_tunes_stops_the_account_list_where_theirs_cost_less(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    ids = _spread(source, 300, 10, tunes=3)  # 12 watched a page: ~25 account pages
    waits = [asyncio.ensure_future(board.wait(oid, FAST, initial=source.objects[oid]))
             for oid in ids]
    await _first_tick(ft, board, waits, ids)
    # One account page tells its density; 3 pages of the tunes' own lists cost less.
    assert source.count("one") == 0 and source.count("page") == 1 + 3  # was 25 pages
    first = len(source.calls)
    await ft.advance(FAST.interval * 1.5)  # learned: the tunes' own lists
    assert [c[1] for c in source.calls[first:]] == ["page"] * 3
    await _end(ft, source, ids, waits)


async def test_waits_by_id_joining_a_split_board_learn_their_tunes_too(
        ft: FakeTime, source: Source, board: Board[Prompt]) -> None:
    ids = _spread(source, 100, EVERY, tunes=10)
    waits = [asyncio.ensure_future(board.wait(oid, FAST)) for oid in ids]
    await _first_tick(ft, board, waits, ids)
    await ft.advance(FAST.interval)  # the second tick reads the 10 tunes' own lists
    joined = []
    for oid in range(ids[-1] + 1, 2 * ids[-1] + 1):  # as many again, on 10 other tunes
        mine = oid % EVERY == 0
        joined += [oid] if mine else []
        source.objects[oid] = Prompt.from_dict({
            "id": oid, "tune_id": 11 + len(joined) % 10 if mine else BUSY, "text": "x",
            "updated_at": T0.isoformat()})
    waits += [asyncio.ensure_future(board.wait(oid, FAST)) for oid in joined]
    first = len(source.calls)
    await ft.advance(FAST.interval * 1.5)
    await ft.settle(2_000)
    assert all(board.known(oid) for oid in joined)
    # 10 pages for the known tunes; for the new ids one account page, a few probes, and a
    # page of each new tune's list (not 100 single GETs).
    assert len(source.calls) - first <= 10 + 30
    await _end(ft, source, ids + joined, waits)
