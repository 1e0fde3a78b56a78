"""The board: one per kind, it refreshes every watched object together, once per tick.

Waiters do not poll. Each registers what it watches on the board and sleeps until woken. One
refresher task per board (started by the first watcher, gone when the last one leaves or the
client closes) fetches all watched ids at the earliest time any watcher wants news, never
more often than the shortest current interval, and never during a 429 pause. New states are
stored, and only the waiters whose objects changed are woken. A callback fed to the board
wakes its waiters at once. Deadlines are kept by one timer per board too (see `waiters`).

Why one refresher task rather than "refresh if stale under a lock" in every waiter: a
refresh then belongs to nobody, so cancelling the waiter that would have triggered it cannot
abort it for the others; a tick wakes only the waiters whose objects changed, instead of all
of them queueing on a lock; and pacing, 429 pauses and the cost model live in one loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Iterable, Iterator
from typing import Any, Generic, TypeVar

from .._aio import Clock, Limiter, Sleep, run_all, wait_event
from .._config import (
    ADMIT_CHUNK,
    BOARD_LAST_FETCHES,
    BOARD_LAST_WINDOW,
    PAGE_LIMIT,
    PLAN_CHUNK,
    SINGLE_MAX,
    STATE_CAP,
    WAKE_CHUNK,
)
from ..errors import (
    APIResponseValidationError,
    AstriaError,
    AuthenticationError,
    ClientClosedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    WaitTimeoutError,
)
from .discovery import discover
from .paging import Source, T, by_parent, signature, unchanged, use_pages, walk_list
from .pause import LocalPause, Pause
from .policy import WaitPolicy
from .waiters import Deadlines, Waker, Watcher, timeout_error

logger = logging.getLogger("astria_async")

R = TypeVar("R")


def _always() -> bool:
    return True


def _later(old: Any, new: Any) -> bool:
    """Whether a state updated at `new` may replace one updated at `old` (None: unknown)."""
    return old is None or new is None or new >= old


async def _breathe(n: int) -> None:
    """Let the loop run between two passes over `n` watched ids, when they are many.

    Each pass over 100,000 ids takes tens of milliseconds: in one step of the refresher
    task they held the loop for over 100 ms before each tick and after it.
    """
    if n > PLAN_CHUNK:
        await asyncio.sleep(0)


class Board(Generic[T]):
    """Coalesces every wait of one kind (tunes or prompts) into one refresh per tick."""

    def __init__(self, kind: str, source: Source[T], *, done: Callable[[T], bool],
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 concurrency: int = 8, rand: Callable[[], float] = random.random,
                 pause: Pause | None = None, state_cap: int = STATE_CAP,
                 settle: Callable[[T], T | None] | None = None, grace: float = 0.0,
                 first_look: Callable[[T], float | None] | None = None) -> None:
        """`settle(obj)` gives the final state of an object that is over but not `done` (a
        prompt that ended without images), used once such states kept coming for `grace`
        seconds (an image-less callback or refresh just before the images is not an end).
        `first_look(obj)` is how soon the object itself says to look (a tune's `eta`, a fast
        tune): a wait on it looks then if that is sooner than its policy's interval."""
        self.kind = kind
        self.source: Source[T] = source
        self.done: Callable[[T], bool] = done
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        # The account-wide 429 pause, shared with the client's other board and its transport.
        self.account_pause: Pause = pause if pause is not None else LocalPause(clock)
        self._state_cap = state_cap  # states kept besides the watched ones
        self.listeners: list[Callable[[T], None]] = []  # called with each finished state
        # False while another process polls for this board (`coordination`): it does not
        # tick, and states arrive by `feed`. Call `nudge()` when the answer changes.
        self.leading: Callable[[], bool] = _always
        self._settle: Callable[[T], T | None] | None = settle
        self._first_look: Callable[[T], float | None] | None = first_look
        self._grace = grace
        self._over: dict[int, float] = {}  # over-but-not-done ids, and when first seen so
        self.ticks = 0  # refreshes run, and requests they sent (for tests and logs)
        self.requests = 0
        self.longest_tick = 0.0  # seconds on the board's clock (for benchmarks and logs)
        self.last_error: BaseException | None = None  # the last transient refresh failure
        self._concurrency = concurrency
        self._limit: Limiter | None = None
        self._state: dict[int, T] = {}
        # Unfinished states read from list pages that nobody reads (see `_keep`): only their
        # signature, the time they were updated and their tune, instead of payload and model.
        self._compact: dict[int, tuple[tuple[Any, ...], Any, Any]] = {}
        # The ids in _state nobody watches, least recently fed or left first: the ones pruned.
        self._spare: OrderedDict[int, None] = OrderedDict()
        # The watcher of each id, or a set when several watch it: one waiter per id is the
        # common case, and a set each cost ~250 bytes and a tracked object at 100,000.
        self._watchers: dict[int, Watcher | set[Watcher]] = {}
        self._waker = Waker(WAKE_CHUNK)
        # Single-id waits started but not yet registered (see `_enlist`), and the ids news
        # came for meanwhile (their waiters are woken once registered, to look again).
        self._intake: collections.deque[Watcher] = collections.deque()
        self._fresh: set[int] = set()
        self._deadlines = Deadlines(f"astria-{kind}", clock, sleep, self._waker.wake)
        self._errors: dict[int, BaseException] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_start = -math.inf
        self._planned = -math.inf  # the next tick while the refresher sleeps for it
        self._due = self._gap = math.inf  # the earliest due and shortest interval it planned by
        self._learned: tuple[int, float] | None = None  # (oldest id, pages it took)
        self._density: float | None = None  # the share of ids on the account list that are ours
        # Per-parent lists (a tune's own prompts): (oldest id, pages the last such tick took),
        # and the density seen on each parent's list.
        self._split: tuple[int, float] | None = None
        self._densities: dict[int, float] = {}
        self._unreadable: set[tuple[int | None, str | None]] = set()  # logged once each
        self._last_fetched: collections.deque[float] = collections.deque()  # see `_last`
        self._closed = False

    # --- state ------------------------------------------------------------------------

    def get(self, oid: int) -> T | None:
        """The last full state seen for `oid`, if any.

        None too for a watched id whose unfinished state came from a list page while no
        waiter asked for every state: the board kept only what tells a change (`_keep`).
        """
        return self._state.get(oid)

    def known(self, oid: int) -> bool:
        """Whether the board has a state of `oid`, in full or only its signature."""
        return oid in self._state or oid in self._compact

    def feed(self, obj: T) -> bool:
        """Offer a state (from a refresh, a callback or a create); True if it was news."""
        if self._closed:
            return False
        old = self._state.get(obj.id)
        if self._settle is not None and not (old is not None and self.done(old)):
            obj = self._settled(obj, self._settle)
        if old is not None and (old == obj or not self._newer(old, obj)):
            return False
        compact = self._compact.pop(obj.id, None)
        if compact is not None and not _later(compact[1], obj.updated_at):
            self._compact[obj.id] = compact  # older than what a list page showed
            return False
        self._state[obj.id] = obj
        if obj.id not in self._watchers:
            self._spare[obj.id] = None
            self._spare.move_to_end(obj.id)
        self._prune()
        if self.done(obj):
            for listener in list(self.listeners):
                listener(obj)
        self._notify(obj.id)
        return True

    def _settled(self, obj: T, settle: Callable[[T], T | None]) -> T:
        final = settle(obj)
        if final is None:
            self._over.pop(obj.id, None)
            return obj
        first = self._over.setdefault(obj.id, self.clock())
        if self.clock() - first < self._grace:
            return obj
        del self._over[obj.id]
        return final

    def _newer(self, old: T, new: T) -> bool:
        # A finished state is final: a refresh that started before a callback arrived must
        # not put the object back to "running".
        if self.done(old) and not self.done(new):
            return False
        if old.updated_at is not None and new.updated_at is not None:
            return new.updated_at >= old.updated_at
        return True

    def _prune(self) -> None:
        # Watched states all stay, and `state_cap` spare ones besides; the oldest spare go first.
        # A feed costs O(1) however many ids are watched (a scan past every watched state to
        # find a spare one made 10,000 waiters O(n^2) per tick).
        while len(self._spare) > self._state_cap:
            del self._state[self._spare.popitem(last=False)[0]]

    def _notify(self, oid: int) -> None:
        if self._intake:
            self._fresh.add(oid)
        for watcher in self._group(oid):
            self._waker.wake(watcher)

    def _group(self, oid: int) -> Collection[Watcher]:
        """The watchers of `oid`."""
        group = self._watchers.get(oid)
        if group is None:
            return ()
        return (group,) if isinstance(group, Watcher) else group

    def _every_watcher(self) -> Iterator[Watcher]:
        """Each watcher, once per id it watches."""
        for group in self._watchers.values():
            if isinstance(group, Watcher):
                yield group
            else:
                yield from group

    # --- watchers ---------------------------------------------------------------------

    def watch(self, ids: Iterable[int], policy: WaitPolicy, deadline: float | None = None,
              *, every: bool = False) -> Watcher:
        """Register interest in `ids` (woken at `deadline` too); pair with `unwatch`.

        `every`: the watcher reads every state of its ids, not only the finished one (an
        `on_update`, `states()`); their states are then always kept in full. An id known so
        far only by its signature is read again at the next allowed tick.
        """
        self._open()
        # A tuple, not a frozenset: 56 bytes for one id instead of 216 (100,000 waiters).
        watcher = Watcher(tuple(dict.fromkeys(ids)), policy, policy.interval, 0.0, False,
                          deadline, every=every)
        self._admit(watcher)
        return watcher

    def _open(self) -> None:
        if self._closed:
            raise ClientClosedError("the AstriaClient is closed; create a new one")

    def _admit(self, watcher: Watcher) -> None:
        """Register `watcher` under its ids, plan its first look, and start the refresher."""
        idset, policy = watcher.ids, watcher.policy
        if watcher.every:
            for oid in idset:  # read again at the next tick, in full
                self._compact.pop(oid, None)
        now = self.clock()
        # Ids with no state are fetched at the next allowed tick; known ones after a pause.
        watcher.primed = primed = all(self.known(oid) for oid in idset)
        if primed:
            watcher.interval = self._first_interval(idset, policy)
            watcher.due = now + policy.jittered(watcher.interval, self.rand)
        else:
            watcher.due = now
        watcher.admitted = True
        for oid in idset:
            group = self._watchers.get(oid)
            if group is None:
                self._watchers[oid] = watcher
                self._spare.pop(oid, None)
            elif isinstance(group, Watcher):
                self._watchers[oid] = {group, watcher}
            else:
                group.add(watcher)
        if watcher.deadline is not None:
            self._deadlines.add(watcher)
        if self._task is None:
            # In an empty context: the refresher serves every waiter, so a tracing span or
            # request id of whichever request happened to start it must not follow it.
            self._task = contextvars.Context().run(
                asyncio.get_running_loop().create_task, self._run(),
                name=f"astria-{self.kind}-board")
        elif self._start(min(self._due, watcher.due),
                         min(self._gap, policy.interval)) < self._planned:
            # A tick sooner than planned. Only then: a wake re-plans over every watcher, which
            # made 10,000 waits started one after another O(n^2).
            self._wake.set()

    def _enlist(self, watcher: Watcher) -> None:
        """Register `watcher` (one id) in a later pass of the loop, `ADMIT_CHUNK` per pass.

        100,000 waits started by one `gather` all take their first step in one pass of the
        loop: registering each there (~2.6 µs) held that pass for a quarter of a second more.
        Its waiter has looked at the state already; news that comes before it is registered
        wakes it once it is, to look again.
        """
        self._intake.append(watcher)
        if len(self._intake) == 1:
            asyncio.get_running_loop().call_soon(self._admit_intake)

    def _admit_intake(self) -> None:
        intake, fresh = self._intake, self._fresh
        for _ in range(min(len(intake), ADMIT_CHUNK)):
            watcher = intake.popleft()
            if not watcher.active:  # its wait ended before it was registered
                continue
            if self._closed:
                watcher.wake()  # it raises `ClientClosedError`
                continue
            self._admit(watcher)
            if watcher.ids[0] in fresh:
                self._waker.wake(watcher)
        if intake:
            asyncio.get_running_loop().call_soon(self._admit_intake)
        else:
            fresh.clear()

    def _first_interval(self, ids: tuple[int, ...], policy: WaitPolicy) -> float:
        """The first look of a wait on one object: the policy's, or sooner if it says so."""
        if self._first_look is None or len(ids) != 1:
            return policy.interval
        state = self._state.get(next(iter(ids)))
        first = None if state is None else self._first_look(state)
        return policy.interval if first is None else min(policy.interval, first)

    def unwatch(self, watcher: Watcher) -> None:
        """Drop a registration; the refresher stops when nobody watches."""
        if not watcher.active:
            return
        watcher.active = False
        if not watcher.admitted:  # still in the intake, which drops it
            return
        if watcher.deadline is not None:
            self._deadlines.discard(watcher)
        for oid in watcher.ids:
            group = self._watchers.get(oid)
            if isinstance(group, set):
                group.discard(watcher)
            elif group is not watcher:
                continue
            if not isinstance(group, set) or not group:
                del self._watchers[oid]
                self._compact.pop(oid, None)
                self._errors.pop(oid, None)
                self._over.pop(oid, None)
                if oid in self._state:
                    self._spare[oid] = None
        self._prune()
        if not self._watchers:
            self._wake.set()

    @property
    def watched(self) -> int:
        """Number of distinct ids watched right now."""
        return len(self._watchers)

    def watched_ids(self) -> list[int]:
        """The ids watched right now (what another process polls for, when this one follows)."""
        return list(self._watchers)

    def nudge(self) -> None:
        """Plan the next tick again (`leading` changed)."""
        self._wake.set()

    def check(self, oid: int) -> None:
        """Raise what the board learned about `oid` that ends a wait (404, 401, closed)."""
        if self._closed:
            raise ClientClosedError("the AstriaClient was closed while waiting")
        error = self._errors.get(oid)
        if error is not None:
            raise error

    async def states(self, oid: int, policy: WaitPolicy,
                     initial: T | None = None) -> AsyncGenerator[T, None]:
        """Each new state of `oid` until it is done (the final one included).

        Raises:
            WaitTimeoutError: `policy.timeout` passed; carries the last state and the id.
        """
        watcher = self._watch_one(oid, policy, initial, every=True)
        last: T | None = None
        try:
            while last is None or not self.done(last):
                last = await self._next(oid, watcher, last, initial)
                yield last
        finally:
            self.unwatch(watcher)

    async def wait(self, oid: int, policy: WaitPolicy, initial: T | None = None,
                   on_update: Callable[[T], None] | None = None,
                   failure: Callable[[T], BaseException | None] | None = None) -> T:
        """The first done state of `oid`; `on_update` sees every new state (the last too).

        `failure(state)` is what to raise instead of answering that done state, if anything
        (a failed prompt): here, so that the caller needs no coroutine of its own around it.
        """
        # `states` without the async generator, its asend, aclosing and the loop's weakref:
        # 5 objects fewer a waiter, less for the GC when 10,000 waits start at once.
        watcher = self._watch_one(oid, policy, initial, every=on_update is not None)
        last: T | None = None
        try:
            while last is None or not self.done(last):
                # `_next` inline, sleeping on the bare future: its coroutine and the one of
                # `Watcher.sleep` were two more frames (~500 bytes) a waiter, and two more
                # objects for every full collection to walk with 100,000 waiting.
                obj = self._news(oid, last)
                if obj is None:
                    if self._expired(watcher):
                        raise await self._timeout(oid, watcher, last or initial)
                    sleeper = watcher.sleeper()
                    if sleeper is not None:
                        await sleeper
                        watcher.woken = False
                    continue
                last = obj
                if on_update is not None:
                    on_update(last)
            error = None if failure is None else failure(last)
            if error is not None:
                raise error
            return last
        finally:
            self.unwatch(watcher)

    def _watch_one(self, oid: int, policy: WaitPolicy, initial: T | None,
                   every: bool) -> Watcher:
        if initial is not None:
            self.feed(initial)
        self._open()
        deadline = None if policy.timeout is None else self.clock() + policy.timeout
        watcher = Watcher((oid,), policy, policy.interval, 0.0, False, deadline, every=every)
        self._enlist(watcher)
        return watcher

    async def _next(self, oid: int, watcher: Watcher, last: T | None, initial: T | None) -> T:
        """The state of `oid` once it is not `last`."""
        while (obj := self._news(oid, last)) is None:
            if self._expired(watcher):
                raise await self._timeout(oid, watcher, last or initial)
            await watcher.sleep()
        return obj

    def _news(self, oid: int, last: T | None) -> T | None:
        """The state of `oid` if it is not `last` (None: no news); raises what ends a wait."""
        self.check(oid)
        obj = self._state.get(oid)
        if obj is not None and obj is not last and obj != last:
            return obj
        return None

    def _expired(self, watcher: Watcher) -> bool:
        return watcher.deadline is not None and self.clock() >= watcher.deadline

    async def _timeout(self, oid: int, watcher: Watcher, known: T | None) -> WaitTimeoutError:
        """The `WaitTimeoutError` of a wait on `oid` past its deadline."""
        last = await self._last(oid, known)
        return timeout_error(self.kind, oid, watcher.policy, last, self.last_error,
                             paused=self.paused())

    async def _last(self, oid: int, known: T | None) -> T | None:
        """The last state of `oid` for its `WaitTimeoutError`.

        When the board kept only a signature of it (`_keep`), one GET fetches it: a timeout
        is rare, and keeping every unfinished payload and model for it cost ~3.6 KB a waiter.
        If that GET fails (or a 429 pauses waits), the last full state seen, if any; so too
        past `BOARD_LAST_FETCHES` such GETs in `BOARD_LAST_WINDOW` seconds (every wait timing
        out at once must not cost a request each).
        """
        if oid not in self._compact or self.paused() is not None:
            return known
        now, spent = self.clock(), self._last_fetched
        while spent and spent[0] <= now - BOARD_LAST_WINDOW:
            spent.popleft()
        if len(spent) >= BOARD_LAST_FETCHES:
            return known
        spent.append(now)
        try:
            return await self._fetch(self.source.one(oid))
        except AstriaError:
            return known

    def paused(self) -> str | None:
        """Why waits are paused now (a 429 and the request it answered), or None."""
        left = self.account_pause.until() - self.clock()
        if left <= 0:
            return None
        cause = self.account_pause.cause() or "a request"
        return (f"every wait is paused for another {left:.0f} s by a 429 (rate limited) "
                f"on {cause}")

    async def as_completed(self, ids: list[int],
                           policy: WaitPolicy) -> AsyncGenerator[T, None]:
        """Each of `ids` once, as it gets done (in the order they finish)."""
        pending = dict.fromkeys(ids)
        deadline = None if policy.timeout is None else self.clock() + policy.timeout
        watcher = self.watch(pending, policy, deadline)
        try:
            while pending:
                for oid in list(pending):
                    self.check(oid)
                    obj = self._state.get(oid)
                    if obj is not None and self.done(obj):
                        del pending[oid]
                        yield obj
                if not pending:
                    return
                if deadline is not None and self.clock() >= deadline:
                    first = next(iter(pending))
                    known = await self._last(first, self._state.get(first))
                    raise timeout_error(self.kind, first, policy, known,
                                        self.last_error, waiting=len(pending),
                                        paused=self.paused())
                await watcher.sleep()
        finally:
            self.unwatch(watcher)

    # --- the refresher --------------------------------------------------------------------

    def _pending(self) -> list[int]:
        return sorted(oid for oid in self._watchers
                      if oid not in self._errors
                      and not ((obj := self._state.get(oid)) is not None and self.done(obj)))

    def _next_start(self, pending: list[int]) -> float:
        self._due = self._gap = math.inf
        if not pending:
            return math.inf
        # (defaults: the ids may have left while the loop ran between collecting and planning)
        self._due = min((w.due for oid in pending for w in self._group(oid)), default=math.inf)
        self._gap = min((w.interval for w in self._every_watcher()), default=math.inf)
        return self._start(self._due, self._gap)

    def _start(self, due: float, gap: float) -> float:
        if not self.leading():
            return math.inf
        return max(due, self._last_start + gap, self.account_pause.until())

    async def _run(self) -> None:
        try:
            while self._watchers and not self._closed:
                self._wake.clear()
                pending = self._pending()
                await _breathe(len(pending))
                start = self._next_start(pending)
                now = self.clock()
                if start > now:
                    self._planned = start
                    await wait_event(self._wake, None if math.isinf(start) else start - now,
                                     self.sleep)
                    self._planned = -math.inf
                    continue
                await _breathe(len(pending))
                await self._tick(pending)
        except Exception as exc:  # a bug here must not leave every waiter hanging
            logger.exception("%s board failed", self.kind)
            for oid in list(self._watchers):
                self._errors[oid] = exc
                self._notify(oid)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _tick(self, ids: list[int]) -> None:
        started = self.clock()
        self._last_start = started
        self.ticks += 1
        requests = self.requests
        self.last_error = None
        try:
            missing = await self._walk(ids) if len(ids) > SINGLE_MAX else ids
            await self._singles(missing)
            self.account_pause.recovered()
        except RateLimitError as exc:
            self.account_pause.rate_limited(exc)
            self.last_error = exc
        except AuthenticationError as exc:  # a wrong key ends every wait; nothing will change
            for oid in ids:
                self._errors[oid] = exc
                self._notify(oid)
        except AstriaError as exc:  # 5xx, timeouts, resets: the next tick is the retry
            self.last_error = exc
            logger.warning("%s board: refresh of %d ids failed (%s); retrying next tick",
                           self.kind, len(ids), exc)
        took = self.clock() - started
        self.longest_tick = max(self.longest_tick, took)
        logger.debug("%s board: tick over %d ids, %d requests in %.3f s", self.kind, len(ids),
                     self.requests - requests, took)
        # Paced from the tick's start, so a slow many-page tick does not stretch the interval.
        for n, watcher in enumerate(list(self._every_watcher()), 1):
            if n % PLAN_CHUNK == 0:
                await asyncio.sleep(0)
            if watcher.due <= started:
                if watcher.primed:
                    watcher.interval = watcher.policy.next_interval(watcher.interval)
                else:  # its first state just arrived: it may say when to look next
                    watcher.interval = self._first_interval(watcher.ids, watcher.policy)
                watcher.primed = True
                watcher.due = started + watcher.policy.jittered(watcher.interval, self.rand)

    async def _walk(self, ids: list[int]) -> list[int]:
        """Learn the state of `ids` the cheapest way; answer the ids left for single GETs.

        Three ways, costed from the previous tick: single GETs (one per id), the account list
        (the pages its last walk took), or each parent's own list (`GET /tunes/:id/prompts`).
        On an old account the account-wide list is diluted by other tunes' prompts while a
        tune's own list is not; the split is tried once the account list costs more than its
        floor (a page per 120 watched prompts of each tune), then kept while cheaper.
        """
        n, oldest = len(ids), ids[0]
        account = self._learned[1] if self._learned and oldest >= self._learned[0] else None
        split = self._split[1] if self._split and oldest >= self._split[0] else None
        groups, rest = by_parent(ids, self._parent)
        await _breathe(n)
        floor = sum(-(-len(members) // PAGE_LIMIT) for members in groups.values())
        if groups and account is not None and (
                (floor if split is None else split) < min(n, account)):
            return await self._walk_split(groups, rest, oldest)
        if not use_pages(n, account):
            return await self._by_parents(ids, walk_known=False)
        # Before the account list's cost is known (the first tick), its first page tells it;
        # the walk stops there if the tunes' own lists (and single GETs for ids of no known
        # tune) cost less than the pages left.
        return await self._walk_account(ids, oldest,
                                        floor + len(rest) if groups else math.inf)

    async def _walk_split(self, groups: dict[int, list[int]], rest: list[int],
                          oldest: int) -> list[int]:
        missing, pages = await self._walk_parents(groups)
        self._split = (oldest, float(pages))
        if len(rest) > SINGLE_MAX:
            rest = await self._walk_account(rest, None)
        return sorted(missing + rest)

    async def _walk_parents(self, groups: dict[int, list[int]]) -> tuple[list[int], int]:
        """Each parent's own list for its ids: the ids they did not show, and the pages."""
        width = max(1, self._concurrency // len(groups))
        walks = await run_all(self._walk_parent(parent, members, width)
                              for parent, members in groups.items())
        return [oid for miss, _ in walks for oid in miss], sum(pages for _, pages in walks)

    async def _by_parents(self, ids: list[int], walk_known: bool = True) -> list[int]:
        """Ids left for single GETs, read from their tunes' own lists where that is cheaper.

        For ids the account list is too diluted for (an old account: the first tick learns
        that from its first page) or dearer than single GETs. Ids of a known tune, two or
        more to a tune, are read from its own list (`walk_known`: unless the split was just
        found dearer); ids of no known tune are `discover`ed, a few single GETs telling tunes
        whose lists show the others. At most a round of pages more than single GETs, and a
        fraction of them on an old account (100 waits by id: 1 + 99 requests became ~25).
        """
        if len(ids) <= SINGLE_MAX:
            return ids
        groups, rest = by_parent(ids, self._parent)
        walked = {parent: members for parent, members in groups.items()
                  if walk_known and len(members) > 1}
        missing = [oid for parent, members in groups.items() if parent not in walked
                   for oid in members]
        if walked:
            missing += (await self._walk_parents(walked))[0]
        missing += await discover(rest, width=self._concurrency, singles=self._singles,
                                  parent_of=self._parent, walk=self._walk_parent,
                                  spent=lambda: self.requests)
        return sorted(missing)

    async def _walk_account(self, ids: list[int], oldest: int | None,
                            cheaper: float = math.inf) -> list[int]:
        read = 0  # pages this walk read (the board's request count also moves with others')

        def page(before: int) -> Awaitable[Any]:
            nonlocal read
            read += 1
            return self._fetch(self.source.page(before))

        missing, pages, self._density = await walk_list(
            page, ids, self._seen, width=self._concurrency, density=self._density,
            cheaper=cheaper)
        if oldest is not None:
            self._learned = (oldest, pages)
        if pages > read:  # it stopped where the list is too diluted, counting the pages left
            return await self._by_parents(missing)
        # Only ids the list does not show (another workspace, deleted): their tunes' lists
        # would not show them either.
        return missing

    async def _walk_parent(self, parent: int, ids: list[int],
                           width: int) -> tuple[list[int], int]:
        missing, pages, density = await walk_list(
            lambda before: self._fetch(self.source.page(before, parent)), ids, self._seen,
            width=width, density=self._densities.get(parent))
        if density is not None:
            self._densities[parent] = density
        return missing, pages

    def _parent(self, oid: int) -> Any:
        """The `tune_id` of the known state of `oid` (None: none known, or not a prompt)."""
        state = self._state.get(oid)
        if state is not None:
            return getattr(state, "tune_id", None)
        compact = self._compact.get(oid)
        return None if compact is None else compact[2]

    def _seen(self, oid: int | None, item: Any) -> bool:
        """Take one list item of a watched id: build a model only if its state changed."""
        if oid is None:
            self._log_unreadable(None, "id", item)
            return False
        compact = self._compact.get(oid)
        if compact is not None:
            if compact[0] == signature(item):
                return True
        else:
            old = self._state.get(oid)
            # An object over but not done is fed again each tick: its grace runs on feeds.
            if old is not None and oid not in self._over and unchanged(old.raw, item):
                return True
        try:
            obj = self.source.build(item)
        except APIResponseValidationError as exc:
            # One unreadable object must not fail the refresh of every other: skipped on
            # this page, its id is fetched singly (where an error names it to its waiter).
            self._log_unreadable(oid, exc.field, exc)
            return False
        if self._keep(oid, obj):
            if compact is None or _later(compact[1], obj.updated_at):
                self._state.pop(oid, None)
                self._compact[oid] = (signature(item), obj.updated_at,
                                      getattr(obj, "tune_id", None))
        else:
            self.feed(obj)
        return True

    def _keep(self, oid: int, obj: T) -> bool:
        """Whether only a signature of `obj` needs keeping, not the state itself.

        So when nobody reads it: it is unfinished (what ends a wait is kept in full), over
        neither (an image-less prompt's grace runs on full states), says nothing about when
        to look (a tune's `eta`), and no watcher of it reads every state. A plain wait only
        reads the state that ends it; 100,000 unfinished payloads and models cost ~360 MB.
        """
        if self.done(obj) or self._first_look is not None or oid in self._over:
            return False
        if self._settle is not None and self._settle(obj) is not None:
            return False
        return not any(watcher.every for watcher in self._group(oid))

    def _log_unreadable(self, oid: int | None, field: str | None, what: object) -> None:
        key = (oid, field)
        if key in self._unreadable:
            return
        if len(self._unreadable) >= 1024:  # bounded: a hostile server cannot grow it forever
            self._unreadable.clear()
        self._unreadable.add(key)
        which = f"{self.kind} {oid}" if oid is not None else f"a {self.kind} without an id"
        logger.warning("%s board: skipped %s on a list page (field %s unreadable: %.200s)",
                       self.kind, which, field or "?", what)

    async def _singles(self, ids: list[int]) -> None:
        if not ids:
            return

        async def one(oid: int) -> None:
            try:
                obj = await self._fetch(self.source.one(oid))
            except (NotFoundError, PermissionDeniedError) as exc:
                self._errors[oid] = exc  # deleted, or not yours: waiting cannot help
                self._notify(oid)
                return
            except (RateLimitError, AuthenticationError):
                raise
            except AstriaError as exc:
                self.last_error = exc
                return
            self.feed(obj)

        await run_all(one(oid) for oid in ids)

    async def _fetch(self, request: Awaitable[R]) -> R:
        # Board requests take at most a share of the client's concurrency limiter, so that
        # waits never crowd out the caller's own requests.
        if self._limit is None:
            self._limit = Limiter(self._concurrency)
        async with self._limit:
            self.requests += 1
            return await request

    async def aclose(self) -> None:
        """Stop the refresher and wake every waiter (they raise `ClientClosedError`)."""
        self._closed = True
        for watcher in self._every_watcher():
            self._waker.wake(watcher)
        for watcher in self._intake:
            watcher.wake()
        await self._deadlines.aclose()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
