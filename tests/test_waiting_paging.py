"""The cost model of a board refresh: single GETs or list pages, and the jumping list walk."""

from __future__ import annotations

from typing import Any

from astria_async._config import PAGE_LIMIT
from astria_async.waiting.paging import (
    by_parent,
    pages_needed,
    plan_wave,
    unchanged,
    use_pages,
    walk_list,
)

# --- cost model ------------------------------------------------------------------------------


def test_few_ids_use_single_gets() -> None:
    assert not use_pages(1, None)
    assert not use_pages(3, None)
    assert use_pages(4, None)
    assert use_pages(500, 5)
    # Learned: paging needed more pages than there are ids -> singles are cheaper.
    assert not use_pages(10, 40)
    assert not use_pages(10, 10)


def test_pages_needed_jumps_over_gaps() -> None:
    # Dense (density 1): 500 contiguous ids take ceil(500/120) pages.
    assert pages_needed(list(range(1, 501)), 1.0, 1000) == 5
    # Two far clusters of 10: one page each, the gap between them costs nothing.
    assert pages_needed(list(range(1, 11)) + list(range(10_001, 10_011)), 1.0, 100) == 2
    # Sparse (1 in 100 ids is ours): a page spans 12,000 ids.
    assert pages_needed(list(range(0, 24_000, 100)), 0.01, 100) == 2
    # Counting stops at the limit (the caller only asks "fewer than n?").
    assert pages_needed(list(range(0, 100_000, 1000)), 1.0, 7) == 7
    assert pages_needed([], 1.0, 7) == 0


def test_plan_wave_starts_above_the_newest_watched_id() -> None:
    assert plan_wave([], 1.0, 4) == []
    assert plan_wave([5, 9], None, 4) == [10]  # no density yet: one page tells it
    # Density 1: a page covers 120 ids; starts do not overlap.
    assert plan_wave(list(range(1, 301)), 1.0, 8) == [301, 181, 61]
    assert plan_wave(list(range(1, 301)), 1.0, 2) == [301, 181]


def test_unchanged_compares_the_raw_state_fields() -> None:
    raw = {"id": 1, "updated_at": "t1", "images": [], "user_error": None, "text": "a"}
    assert unchanged(raw, {**raw, "text": "b"})  # not a state field
    assert not unchanged(raw, {**raw, "updated_at": "t2"})
    assert not unchanged(raw, {**raw, "images": ["u"]})
    assert not unchanged({}, raw)  # nothing stored to compare with: build


def test_by_parent_groups_known_prompts_by_tune() -> None:
    groups, rest = by_parent([1, 2, 3, 4], {1: 7, 2: 8, 3: 7, 4: None}.get)
    assert groups == {7: [1, 3], 8: [2]} and rest == [4]


# --- the walk ----------------------------------------------------------------------------------


def _lister(ids: list[int], log: list[int]) -> Any:
    ordered = sorted(ids, reverse=True)

    async def page(before: int) -> list[Any]:
        log.append(before)
        return [{"id": i} for i in ordered if i < before][:PAGE_LIMIT]

    return page


async def test_walk_skips_newer_objects_and_gaps() -> None:
    # 20,000 newer objects above two clusters of watched ids: two pages, not 170.
    exists = list(range(1, 30_001))
    watched = list(range(1000, 1050)) + list(range(5000, 5050))
    log: list[int] = []
    got: list[int] = []

    def found(oid: int | None, item: Any) -> bool:
        assert oid is not None
        got.append(oid)
        return True

    missing, pages, density = await walk_list(_lister(exists, log), watched, found, width=4)
    assert missing == [] and pages == 2 and log == [5050, 1050]
    assert sorted(got) == watched and density == 1.0


async def test_walk_reports_ids_not_in_the_list_and_unreadable_items() -> None:
    log: list[int] = []
    exists = [i for i in range(1, 200) if i != 150]
    watched = [100, 120, 150, 160, 170]

    async def page(before: int) -> list[Any]:
        items = await _lister(exists, log)(before)
        return [{"id": "x"} if item["id"] == 199 else item for item in items]

    skipped: list[Any] = []

    def found(oid: int | None, item: Any) -> bool:
        if oid is None:
            skipped.append(item)
        return oid != 160  # 160 could not be read: fetched singly

    missing, pages, _ = await walk_list(page, watched, found)
    assert missing == [150, 160] and pages == 1 and skipped == []
    missing, _, _ = await walk_list(page, [100, 198, 199], found)
    assert missing == [199] and skipped == [{"id": "x"}]


async def test_walk_stops_where_singles_are_cheaper() -> None:
    log: list[int] = []
    watched = [5, 500, 1000, 1500, 1990]  # one page each: 5 pages would cost as much as 5 GETs
    missing, pages, _ = await walk_list(_lister(list(range(1, 2001)), log), watched,
                                        lambda oid, item: True)
    assert log == [1991] and missing == [5, 500, 1000, 1500] and pages == 5
