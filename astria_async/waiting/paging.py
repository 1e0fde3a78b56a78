"""The cost model of a board refresh and the newest-first list walk it uses.

A board learns the state of its watched ids either with single GETs or by paging a list
endpoint; this module decides which and walks the list. `Source` is how a board fetches.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from .._aio import run_all
from .._config import PAGE_LIMIT, SINGLE_MAX
from ..models import Prompt, Tune

T = TypeVar("T", Tune, Prompt)
T_co = TypeVar("T_co", Tune, Prompt, covariant=True)


class Source(Protocol[T_co]):
    """How a board fetches one kind: `resources.ApiSource` over the API, or a test's fake.

    `page` answers the raw items of one list page (newest first, ids below `before_id`;
    with `parent`, the list of that tune's own prompts, `GET /tunes/:id/prompts`). The board
    looks at an item's raw `id` and state fields first and calls `build` only for the few
    watched items that changed: on an old account most items of a page are someone else's
    news, and building a model for each was most of a refresh's time.
    """

    async def one(self, oid: int) -> T_co: ...

    async def page(self, before_id: int | None, parent: int | None = None) -> Sequence[Any]: ...

    def build(self, item: Any) -> T_co: ...


# --- the cost model ----------------------------------------------------------------------
#
# A tick must learn the state of n watched ids. Single GETs cost n requests. The list
# endpoints are newest first, 120 per page, and take a `before_id` cursor, so a walk starts
# right above the newest watched id (everything newer is skipped for free) and, after each
# page, jumps to the next watched id it has not covered (gaps between clusters of watched
# ids cost nothing either). A page covers about 120 / density ids, where density is the
# share of ids that are yours (Astria ids are global and increasing); it is learned from
# the pages read, or from the previous tick. A tick costs min(n, pages) (+ a single GET for
# an id the list does not show). The board learns the pages a tick took, for the next one.


def use_pages(n: int, learned_pages: float | None) -> bool:
    """Whether a tick over `n` ids should page the list (else: single GETs)."""
    if n <= SINGLE_MAX:
        return False
    return learned_pages is None or learned_pages < n


def pages_needed(todo: Sequence[int], density: float, limit: int) -> int:
    """Pages a jumping walk needs to cover the sorted ids `todo`, counted up to `limit`.

    Each page covers `PAGE_LIMIT / density` ids below the watched id it starts at; the next
    starts at the highest id below that. O(pages × log n), stopped once `limit` is reached.
    """
    span = PAGE_LIMIT / max(density, 1e-9)
    pages, end = 0, len(todo)
    while end > 0 and pages < limit:
        pages += 1
        end = bisect_left(todo, todo[end - 1] - span + 1, 0, end)
    return pages


def plan_wave(todo: Sequence[int], density: float | None, width: int) -> list[int]:
    """The `before_id`s of up to `width` pages to read at once, newest first.

    Without a density yet, one page (the first one tells it). Otherwise pages start at the
    highest uncovered ids whose predicted spans do not overlap.
    """
    if not todo:
        return []
    starts = [todo[-1] + 1]
    if density is None:
        return starts
    span = PAGE_LIMIT / max(density, 1e-9)
    end = len(todo)
    while len(starts) < width:
        end = bisect_left(todo, todo[end - 1] - span + 1, 0, end)
        if end == 0:
            break
        starts.append(todo[end - 1] + 1)
    return starts


class Walk:
    """One walk over a list: the ids still to learn, and the density and pages it saw."""

    def __init__(self, ids: list[int], density: float | None) -> None:
        self.todo = ids  # sorted; ids leave it as the pages covering them are read
        self.density = density
        self.pages = 0
        self._items = self._span = 0

    def covered(self, before: int, ids: Sequence[int], full: bool) -> list[int]:
        """Record a page read below `before` showing `ids`; answer the watched ids it settled.

        A full page settles every watched id from its last id up to `before`; a short one
        (the end of the list) every id below `before` as well.
        """
        self.pages += 1
        if full and ids:
            self._items += len(ids)
            self._span += max(1, before - min(ids))
            self.density = self._items / self._span
        todo = self.todo
        hi = bisect_left(todo, before)
        low = bisect_left(todo, min(ids)) if full and ids else 0
        settled = todo[low:hi]
        del todo[low:hi]
        return settled


async def walk_list(page: Callable[[int], Awaitable[Sequence[Any]]], ids: list[int],
                    found: Callable[[int | None, Any], bool], *, width: int = 1,
                    density: float | None = None,
                    cheaper: float = math.inf) -> tuple[list[int], int, float | None]:
    """Walk a list newest first until every one of `ids` (sorted) is covered.

    `page(before_id)` reads one page (raw items). `found(id, item)` gets each item of a
    watched id, and each item without a readable id (with None); it answers False when it
    could not read the item. Up to `width` pages are read at once. Returns the ids to fetch
    singly (not in the list, unreadable, or cheaper singly), the pages the walk took, or
    would have taken had it not stopped where single GETs are cheaper (what the next tick's
    `use_pages` learns from), and the density it saw. It stops too where the pages left
    cost `cheaper` or more (what another way of learning the rest costs).
    """
    walk = Walk(list(ids), density)
    missing: list[int] = []
    turn = asyncio.Lock()

    async def read(before: int) -> None:
        # Each page is taken as soon as it arrives and dropped at once: a wave of 8 parsed
        # pages held until the slowest came in was ~5,000 objects alive at every young
        # collection, which promoted most of a tick's items to the old generation and set
        # off a full collection (~250 ms at 100,000 waiters) every tick.
        items = await page(before)
        async with turn:
            take(before, items)
            # One page a pass: pages that arrived together, read in one go, held the loop
            # for tens of milliseconds (a model built for each finished item).
            await asyncio.sleep(0)

    def take(before: int, items: Sequence[Any]) -> None:
        seen: list[int] = []
        taken: set[int] = set()
        for item in items:
            oid = item.get("id") if isinstance(item, dict) else None
            if oid.__class__ is not int:  # bool is not an id either
                found(None, item)
                continue
            seen.append(oid)
            if _has(walk.todo, oid) and found(oid, item):
                taken.add(oid)
        settled = walk.covered(before, seen, len(items) >= PAGE_LIMIT)
        missing.extend(oid for oid in settled if oid not in taken)

    while walk.todo:
        if walk.density is not None:
            left = pages_needed(walk.todo, walk.density, len(walk.todo))
            if left >= min(len(walk.todo), cheaper):  # the rest is cheaper another way
                missing += walk.todo
                return sorted(missing), walk.pages + left, walk.density
        await run_all(read(before) for before in plan_wave(walk.todo, walk.density, width))
    return sorted(missing), walk.pages, walk.density


def _has(todo: list[int], oid: int) -> bool:
    # Sorted ids and a bisect: a set of the watched ids rebuilt per page made a walk over
    # 100,000 watched ids quadratic.
    i = bisect_left(todo, oid)
    return i < len(todo) and todo[i] == oid


# The raw fields a state change shows in (`signature`): an item equal in all of them to the
# stored state needs no model (Rails bumps `updated_at` on every write).


def unchanged(raw: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """Whether list item `item` shows the same state as the stored raw payload `raw`."""
    return bool(raw) and signature(raw) == signature(item)


def signature(item: Mapping[str, Any]) -> tuple[Any, ...]:
    """The values of the state fields of a raw item: equal signatures, unchanged state.

    What a board keeps instead of the raw payload and model of an unfinished state that
    nobody reads (a few hundred bytes instead of ~3.6 KB, with 100,000 prompts watched).
    """
    get = item.get
    images = get("images")
    if images.__class__ is list:
        # A tuple of strings (the shared empty tuple while unfinished) is not tracked by the
        # garbage collector; a list each was one more object for every full collection to
        # walk, 100,000 of them with 100,000 prompts watched.
        images = tuple(images)
    return (get("updated_at"), images, get("user_error"), get("trained_at"),
            get("started_training_at"))


def by_parent(ids: list[int],
              parent_of: Callable[[int], Any]) -> tuple[dict[int, list[int]], list[int]]:
    """Sorted `ids` grouped by the tune their known prompt state was posted to.

    `parent_of(id)` answers the `tune_id` of the id's known state (None if none is known).

    Ids without a known state or tune (and every id of a kind that has no parent list, such as
    tunes) are `rest`, for the account list.
    """
    groups: dict[int, list[int]] = {}
    rest: list[int] = []
    for oid in ids:
        parent = parent_of(oid)
        if parent.__class__ is int:
            groups.setdefault(parent, []).append(oid)
        else:
            rest.append(oid)
    return groups, rest
