"""Waiting: `WaitPolicy`, the cost model of a board refresh, and the sources a board reads."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from ._convert import structure
from .models import Prompt, Tune
from .resources._base import MAX_LIMIT, as_list

if TYPE_CHECKING:
    from ._client import AstriaClient
    from ._http import Transport

T = TypeVar("T", Tune, Prompt)
R = TypeVar("R")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]  # monotonic seconds

PAGE_LIMIT = MAX_LIMIT  # 120, the largest page Astria serves (astria-api §3.1, §5.3)
# With this many ids or fewer a tick is single GETs: a list page costs one request too but
# carries 120 full objects (~100x the bytes), and single GETs also see objects the list
# cannot (gallery tunes, other workspaces). MineskinClient's shared checker draws the same
# line at 4 pending jobs (anchors §3.6).
SINGLE_MAX = 3
# Board requests are sent without transport retries: the board's next tick is the retry, and
# a 429 must reach the board so that it pauses every waiter, not just one request.
NO_RETRY = 0.0


def _number(name: str, value: Any, *, low: float, inclusive: bool = True,
            high: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value >= low if inclusive else value > low) and (high is None or value < high)
    if not ok:
        bound = f">= {low:g}" if inclusive else f"> {low:g}"
        if high is not None:
            bound += f" and < {high:g}"
        raise ValueError(f"WaitPolicy.{name} must be a number {bound}, got {value!r}")
    return float(value)


@attrs.frozen
class WaitPolicy:
    """How often a wait looks and how long it lasts; defaults differ per kind (see below).

    A wait first looks after `interval` seconds, then each interval grows by `multiplier` up
    to `max_interval`, each spread by ±`jitter` (a fraction) so that clients started together
    drift apart. `timeout` is the overall deadline in seconds (`None` or `math.inf`: wait
    forever); passing it raises `WaitTimeoutError`, which carries the id to resume from.

    The intervals pace the client's *board*, not each waiter: however many waits are running,
    all watched objects of a kind are refreshed together at most once per interval.

    Defaults (`WaitPolicy.for_tunes()` / `WaitPolicy.for_prompts()`):

    * tunes: 15 s, x1.5, at most 60 s, timeout 2 h. Training takes minutes (Flux LoRA ~10-30
      min, see `eta`), so a minute of granularity costs a few percent of latency and one
      request a minute; FaceID/Gemini references come back trained and need no poll at all.
      Astria has no failure field for tunes (astria-api §11): two hours without `trained_at`
      means stuck, not slow.
    * prompts: 2 s, x1.5, at most 10 s, timeout 15 min. An image prompt takes ~10 s to a
      minute; Astria's own tools poll every 1 s (Photopea) or 5 s (CLI). 2, 3, 4.5, 6.75, 10 s
      sees a 20 s prompt within ~5 s and costs 6 refreshes a minute after that; 15 minutes
      covers video prompts (the CLI gives up after 10).

    `WaitPolicy()` with no arguments is the prompt default.

    Raises:
        ValueError: a field is out of range; the message names the field.
    """

    interval: float = 2.0
    multiplier: float = 1.5
    max_interval: float = 10.0
    jitter: float = 0.1
    timeout: float | None = 900.0

    def __attrs_post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place, as attrs' own __init__ does
        set_(self, "interval", _number("interval", self.interval, low=0, inclusive=False))
        set_(self, "multiplier", _number("multiplier", self.multiplier, low=1))
        set_(self, "max_interval", _number("max_interval", self.max_interval, low=0,
                                           inclusive=False))
        set_(self, "jitter", _number("jitter", self.jitter, low=0, high=1))
        if self.max_interval < self.interval:
            raise ValueError(f"WaitPolicy.max_interval must be >= interval ({self.interval:g}), "
                             f"got {self.max_interval!r}")
        if self.timeout is not None:
            timeout = _number("timeout", self.timeout, low=0, inclusive=False)
            set_(self, "timeout", None if math.isinf(timeout) else timeout)

    @classmethod
    def for_tunes(cls, **changes: Any) -> WaitPolicy:
        """The tune default (15 s, x1.5, 60 s, ±10 %, 2 h) with `changes` applied."""
        return attrs.evolve(TUNE_WAIT, **changes)

    @classmethod
    def for_prompts(cls, **changes: Any) -> WaitPolicy:
        """The prompt default (2 s, x1.5, 10 s, ±10 %, 15 min) with `changes` applied."""
        return attrs.evolve(PROMPT_WAIT, **changes)

    def next_interval(self, current: float) -> float:
        """The interval after `current`: grown by `multiplier`, capped at `max_interval`."""
        return min(self.max_interval, current * self.multiplier)

    def jittered(self, interval: float, rand: Callable[[], float] = random.random) -> float:
        """`interval` spread uniformly by ±`jitter`."""
        return interval * (1.0 + self.jitter * (2.0 * rand() - 1.0))

    def with_timeout(self, timeout: float | None) -> WaitPolicy:
        """This policy with another overall deadline (`None` keeps this one)."""
        return self if timeout is None else attrs.evolve(self, timeout=timeout)


TUNE_WAIT = WaitPolicy(interval=15.0, multiplier=1.5, max_interval=60.0, jitter=0.1,
                       timeout=7200.0)
PROMPT_WAIT = WaitPolicy()


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


# --- sources: how a board fetches ---------------------------------------------------------


class Source(Protocol[T]):
    """How a board fetches (an `ApiSource`, or a fake in tests)."""

    async def one(self, oid: int) -> T: ...

    async def page(self, before_id: int | None) -> list[T]: ...


class ApiSource(Generic[T]):
    """Fetches one kind over the API: `GET /<kind>s/:id` and the newest-first list."""

    def __init__(self, client: AstriaClient, transport: Transport, cls: type[T]) -> None:
        self._client = client
        self._transport = transport
        self._cls: type[T] = cls
        self.kind = "tune" if cls is Tune else "prompt"

    async def one(self, oid: int) -> T:
        """The object with id `oid`."""
        reply = await self._transport.request("GET", f"/{self.kind}s/{oid}", deadline=NO_RETRY)
        return structure(reply.data, self._cls, self._client)

    async def page(self, before_id: int | None) -> list[T]:
        """One page of the list endpoint, newest first, below `before_id` when given."""
        params = [("limit", str(PAGE_LIMIT))]
        if before_id is not None:
            params.append(("before_id", str(before_id)))
        reply = await self._transport.request("GET", f"/{self.kind}s", params=params,
                                              deadline=NO_RETRY)
        return [structure(item, self._cls, self._client)
                for item in as_list(reply.data, self.kind)]


# --- small async helpers shared by the board, the fair-use guard and downloads ---------


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
