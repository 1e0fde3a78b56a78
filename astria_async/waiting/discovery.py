"""Learning which tune each watched prompt belongs to, when only its id is known.

A board that must read many prompts the account list is too diluted for (an old account,
where the watched prompts are spread among many others) reads each tune's own list instead
(`GET /tunes/:id/prompts`), but for that it needs each prompt's tune. Waits started from an
id alone (a resumed wait, `wait_images(123)`) do not say it; a single GET of every prompt
does, at one request each. A few single GETs spread over the ids tell a few tunes; one page
of each of their lists then shows their other watched prompts at once. A round of probes
whose tunes' lists showed fewer prompts than they cost ends it (each prompt on a tune of its
own, or tunes whose lists are as diluted as the account's): the rest come by single GETs,
so that case costs at most one round of pages more than single GETs would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._aio import run_all
from .._config import SINGLE_MAX

_PHI = 0.6180339887498949  # golden ratio: evenly spread picks for any count


def probes(ids: list[int], k: int) -> list[int]:
    """Up to `k` of the sorted `ids`, spread over them without a fixed stride.

    A fixed stride can alias with how prompts were made (prompts made round robin over 10
    tunes, probed every 10th, all land on one tune); the golden-ratio sequence does not,
    and newest-first picks would all land on the last burst of one tune.
    """
    n = len(ids)
    positions = dict.fromkeys(int(((0.5 + i * _PHI) % 1.0) * n) for i in range(min(k, n)))
    return [ids[p] for p in sorted(positions)]


async def discover(ids: list[int], *, width: int,
                   singles: Callable[[list[int]], Awaitable[None]],
                   parent_of: Callable[[int], Any],
                   walk: Callable[[int, list[int], int], Awaitable[tuple[list[int], int]]],
                   spent: Callable[[], int]) -> list[int]:
    """Learn the sorted `ids` by probes and their tunes' lists; answer the ids left to GET.

    `singles(ids)` fetches ids one by one (and stores their states); `parent_of(id)` is the
    tune of a stored state (None: unknown or none); `walk(tune, ids, width)` reads that
    tune's list for `ids` and answers those it did not show (and its pages); `spent()`
    counts the requests sent so far.
    """
    todo = ids
    k, walked, learned = width, 0, 0  # probes per round; tunes walked, ids learned so far
    while len(todo) > SINGLE_MAX:
        probe = probes(todo, k)
        await singles(probe)
        probed = set(probe)
        todo = [oid for oid in todo if oid not in probed]
        parents = {p for oid in probe if (p := parent_of(oid)).__class__ is int}
        if not parents or not todo:
            break
        before = spent()
        share = max(1, width // len(parents))
        walks = await run_all(walk(parent, todo, share) for parent in parents)
        left = set(todo).intersection(*(missing for missing, _ in walks))
        shown = len(todo) - len(left)
        todo = sorted(left)
        if shown < spent() - before:  # the lists cost more than they showed: single GETs
            break
        walked += len(parents)
        learned += shown + len(probe)
        # As many probes as tunes are likely left, at this rate of ids per tune.
        k = max(1, min(width, -(-len(todo) * walked // learned)))
    return todo
