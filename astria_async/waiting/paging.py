"""The cost model of a board refresh and the newest-first list walk it uses.

A board learns the state of its watched ids either with single GETs or by paging the list
endpoint; this module decides which and walks the list. `Source` is how a board fetches.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from .._config import PAGE_LIMIT, SINGLE_MAX
from ..models import Prompt, Tune

T = TypeVar("T", Tune, Prompt)


class Source(Protocol[T]):
    """How a board fetches one kind: `resources.ApiSource` over the API, or a test's fake."""

    async def one(self, oid: int) -> T: ...

    async def page(self, before_id: int | None) -> list[T]: ...


# --- the cost model ----------------------------------------------------------------------
#
# A tick must learn the state of n watched ids. Single GETs cost n requests. The list
# endpoints are newest first, 120 per page, so paging costs P = ceil(K / 120) requests where K
# is the number of your objects from the newest down to the oldest watched one. A tick costs
# min(n, P) (+ a single GET for an id the list does not show). P is not known before paging,
# so the board learns it: from the previous tick, and within a tick from the id density of
# the pages already read (Astria ids are global and increasing, so a page spanning 120 of
# your objects over D ids predicts how many pages the remaining ids are away).


def use_pages(n: int, learned_pages: float | None) -> bool:
    """Whether a tick over `n` ids should page the list (else: single GETs)."""
    if n <= SINGLE_MAX:
        return False
    return learned_pages is None or learned_pages < n


def pages_left(first_id: int, last_id: int, items_seen: int, oldest_missing: int) -> int:
    """Pages still needed to reach `oldest_missing`, from the density of the pages read.

    `first_id`/`last_id` are the first and last ids of the pages read (newest first) and
    `items_seen` the number of objects on them.
    """
    span = max(1, first_id - last_id + 1)
    density = items_seen / span
    return max(1, math.ceil((last_id - oldest_missing) * density / PAGE_LIMIT))


def keep_paging(first_id: int, last_id: int, items_seen: int, missing_below: list[int]) -> bool:
    """Whether another page is likely cheaper than single GETs for the ids below the page."""
    if not missing_below:
        return False
    left = pages_left(first_id, last_id, items_seen, min(missing_below))
    return left < len(missing_below)


async def walk_list(page: Callable[[int | None], Awaitable[list[T]]], ids: list[int],
                    found: Callable[[T], object]) -> tuple[set[int], int]:
    """Walk the list newest first until the oldest of `ids` (sorted) is covered.

    `page(before_id)` reads one page; `found` gets each object of `ids` met. Returns the ids
    not found (for single GETs) and the pages the walk took, or would have taken had it not
    stopped where single GETs are cheaper (what the next tick's `use_pages` learns from).
    """
    wanted = set(ids)
    before: int | None = None
    pages = seen = 0
    first_id: int | None = None
    while True:
        items = await page(before)
        pages += 1
        seen += len(items)
        for obj in items:
            if obj.id in wanted:
                wanted.discard(obj.id)
                found(obj)
        if len(items) < PAGE_LIMIT:  # the end of the list: the rest is not in it
            return wanted, pages
        first_id = items[0].id if first_id is None else first_id
        last_id = items[-1].id
        below = [oid for oid in wanted if oid < last_id]
        if not below:
            return wanted, pages
        if not keep_paging(first_id, last_id, seen, below):
            return wanted, pages + pages_left(first_id, last_id, seen, min(below))
        before = last_id
