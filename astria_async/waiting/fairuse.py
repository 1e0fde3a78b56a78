"""Fair use: per-tune prompt caps and in-flight bounds, enforced before anything is sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

import attrs

from .._aio import wait_event
from .._config import FAIR_USE_IN_FLIGHT_EXPIRY
from .._fields_repr import fields_repr
from ..errors import ClientClosedError, FairUseError, maybe_processed
from ..models import Prompt, Tune, tune_refs
from .board import Board
from .policy import FairUsePolicy, WaitPolicy
from .waiters import Watcher

CountPrompts = Callable[[int], Awaitable[int]]
"""Counts on the server the prompts charged to a tune (see `FairUse.seed`)."""

__all__ = ["DEFAULT_FAIR_USE", "FairUse", "FairUseEvent", "FairUsePolicy", "Ledger",
           "Place"]


class PromptParams(Protocol):
    """What the guard reads of a prompt's parameters (`params.PromptParams` has it)."""

    @property
    def text(self) -> str | None: ...

    @property
    def num_images(self) -> int | None: ...

logger = logging.getLogger("astria_async")

# Shared gallery models (API notes §1.5): prompts posted to them without a `<lora:…>` or
# `<faceid:…>` reference use nobody's fine-tune, so they count against no tune.
WELL_KNOWN_GALLERY = frozenset({
    1504944, 690204, 666678, 1194447, 3159068, 3225353, 3449219, 3449218, 3063697, 2739411,
    2739410, 3618064, 3691308, 4665564,
})
_HOW = ("change it with AstriaClient(fair_use=FairUsePolicy({field}=...)), or turn the guard "
        "off with AstriaClient(fair_use=None)")


DEFAULT_FAIR_USE = FairUsePolicy()


@attrs.define(eq=False)
class Place:
    """One prompt's reservation: the tunes it counts against and its in-flight place."""

    __repr__ = fields_repr

    tunes: tuple[int, ...]
    since: float = 0.0
    prompt_id: int | None = None
    token: str = attrs.field(factory=lambda: secrets.token_hex(8))  # its name in a ledger
    # The board keeps refreshing a prompt while it holds a place (its own wait may be gone).
    watcher: Watcher | None = None


Watching = Callable[[list[int]], AbstractContextManager[None]]
"""Makes the client's board refresh these prompt ids for as long as the context is open."""


class Ledger(Protocol):
    """A fair-use ledger shared by every process on one account (`coordination`).

    The in-process guard (`FairUse`) always runs first, as it does alone; a ledger then
    checks and reserves the same place across processes. A reservation is counted on the
    ledger before the create is sent, returned when the create provably never reached Astria,
    and its in-flight place freed when any process learns the prompt finished.
    """

    async def reserve(self, place: Place, policy: FairUsePolicy, ttl: float,
                      watching: Watching, timeout: float | None) -> None:
        """Count `place.tunes` and take an in-flight place, waiting while the bounds are full
        (at most `timeout` seconds); `ttl` is how long a place counts at most.

        Raises:
            FairUseError: a tune is at its cap across every process, or no place came within
                `timeout`; nothing was sent.
        """
        ...

    async def release(self, place: Place, *, uncount: bool) -> None:
        """Free the place; `uncount` also takes its prompt off the tunes' counts."""
        ...

    def created(self, place: Place, prompt_id: int) -> None:
        """Tie the place to its prompt, so whoever sees the prompt finish frees it."""
        ...

    def finished(self, prompt_id: int) -> None:
        """A prompt finished: free its place, whichever process took it."""
        ...

    def record(self, tune_id: int, prompts: int) -> None:
        """Count prompts created some other way."""
        ...

    async def seed(self, tune_id: int, count: int) -> int:
        """Raise the shared count of a tune to at least `count`; returns it."""
        ...

    async def seeded(self, tune_id: int) -> int | None:
        """The shared count if another process counted `tune_id` on the server lately (this
        one need not count it again); None when this one should count it now."""
        ...


@attrs.frozen
class FairUseEvent:
    """What the guard tells progress displays about a create waiting for an in-flight place.

    Attributes:
        kind: "waiting" (no place: the create waits for one prompt to finish), "placed" (it
            got one and is being sent) or "gave_up" (its deadline passed: `FairUseError`).
        tune_ids: the tunes the prompt counts against.
        limit: the `FairUsePolicy` bound that is full: "max_in_flight_per_tune" or
            "max_in_flight".
        in_flight: prompts in flight under that bound.
        cap: the bound's value.
    """

    __repr__ = fields_repr

    kind: str
    tune_ids: tuple[int, ...]
    limit: str
    in_flight: int
    cap: int


FairUseListener = Callable[[FairUseEvent], None]


class FairUse:
    """`client.fair_use`: the counts per tune, the in-flight places, and the policy."""

    def __init__(self, policy: FairUsePolicy | None, board: Board[Prompt], *,
                 wait: WaitPolicy, count_prompts: CountPrompts,
                 ledger: Ledger | None = None) -> None:
        """`board` is the client's prompt board (to learn when prompts finish), `wait` the
        prompt wait policy (its pace, and its timeout as the in-flight expiry),
        `count_prompts` the server count of a tune's prompts (see `seed`), `ledger` the
        ledger shared with other processes (none: this process alone)."""
        self.policy = policy
        self.ledger = ledger
        self._board = board
        self._wait = wait
        self._count_prompts = count_prompts
        self._counts: Counter[int] = Counter()
        self._fast: set[int] = set()
        self._gallery: set[int] = set(WELL_KNOWN_GALLERY)
        self._flying: list[Place] = []
        self._by_prompt: dict[int, Place] = {}
        self._changed = asyncio.Event()
        self._closed = False
        # Told when a create waits for an in-flight place, gets one, or gives up.
        self.listeners: list[FairUseListener] = []

    def close(self) -> None:
        """Wake creates waiting for a place (they raise `ClientClosedError`)."""
        self._closed = True
        self._signal()

    @property
    def enabled(self) -> bool:
        """False when the client was made with `fair_use=None`."""
        return self.policy is not None

    def count(self, tune_id: int) -> int:
        """Prompts counted against `tune_id` (through this client, plus any seed)."""
        return self._counts[tune_id]

    def in_flight(self, tune_id: int | None = None) -> int:
        """Unfinished prompts through this client, in all or for one tune."""
        return sum(1 for p in self._flying if tune_id is None or tune_id in p.tunes)

    def remember(self, tune: Tune, *, gallery: bool = False) -> None:
        """Note a tune seen from the API: its branch (fast tunes are free) or gallery status."""
        if tune.branch == "fast":
            self._fast.add(tune.id)
        else:
            self._fast.discard(tune.id)
        if gallery:
            self._gallery.add(tune.id)

    def record(self, tune_id: int, prompts: int = 1) -> None:
        """Count prompts created some other way (a tune's `prompts`, another process)."""
        self._counts[tune_id] += prompts
        if self.ledger is not None:
            self.ledger.record(tune_id, prompts)

    async def seed(self, tune_id: int | Tune, *, count: int | None = None) -> int:
        """Start the count of a tune from the server, or from `count` (no request then).

        The server's count is `client.prompts.charged_to(tune_id)`: the tune's own prompts
        plus the prompts on base models that reference it (usually two requests). With a
        shared ledger, a tune another process counted on the server in the last ten minutes
        is not counted again: its count is the shared one, requests none. The count
        becomes that number, lower or higher than before (creates counted here that never
        became prompts, e.g. lost in an outage, stop counting), plus the creates of this
        client still waiting for their answer (the server may not show them yet).

        Returns:
            The tune's count after seeding.
        """
        tid = tune_id.id if isinstance(tune_id, Tune) else tune_id
        if count is None and self.ledger is not None:
            # Many workers starting one batch: one counts each tune on the server, the others
            # start from the shared count (every create since has raised it).
            shared = await self.ledger.seeded(tid)
            if shared is not None:
                self._counts[tid] = max(self._counts[tid], shared)
                return self._counts[tid]
        if count is None:
            count = await self._count_prompts(tid)
        unanswered = sum(1 for p in self._flying if tid in p.tunes and p.prompt_id is None)
        self._counts[tid] = count + unanswered
        if self.ledger is not None:  # shared: never lowered (other workers' creates count)
            await self.ledger.seed(tid, self._counts[tid])
        return self._counts[tid]

    def charged_tunes(self, tune_id: int, text: str | None) -> tuple[int, ...]:
        """The tunes a prompt with this text, posted to `tune_id`, counts against."""
        targets = tune_refs(text) or (tune_id,)
        fast = self.policy is not None and self.policy.exempt_fast
        return tuple(t for t in targets
                     if t not in self._gallery and not (fast and t in self._fast))

    def _exempt(self, tune_id: int, text: str | None) -> bool:
        targets = tune_refs(text) or (tune_id,)
        return bool(self.policy and self.policy.exempt_fast
                    and all(t in self._fast for t in targets))

    def check(self, tune_id: int, params: PromptParams) -> tuple[int, ...]:
        """The tunes the prompt counts against; raises `FairUseError` if a cap would be crossed.

        Raises:
            FairUseError: too many images, or a tune at its cap; nothing was sent.
        """
        policy = self.policy
        if policy is None or self._exempt(tune_id, params.text):
            return ()
        tunes = self.charged_tunes(tune_id, params.text)
        if params.num_images is not None and params.num_images > policy.max_images:
            raise FairUseError(
                f"a prompt of {params.num_images} images exceeds the fair-use limit of "
                f"{policy.max_images} per prompt (FairUsePolicy.max_images); nothing was sent; "
                + _HOW.format(field="max_images"), limit="max_images",
                tune_id=tunes[0] if tunes else tune_id, cap=policy.max_images,
                used=params.num_images)
        for tid in tunes:
            if self._counts[tid] + 1 > policy.tune_cap:
                raise FairUseError(
                    f"tune {tid} has had {self._counts[tid]} prompts through this client; the "
                    f"fair-use cap is {policy.tune_cap} ({policy.prompts_per_tune} per tune + "
                    f"{policy.automatic_prompts} automatic, FairUsePolicy.prompts_per_tune); "
                    "nothing was sent; " + _HOW.format(field="prompts_per_tune"),
                    limit="prompts_per_tune", tune_id=tid, cap=policy.tune_cap,
                    used=self._counts[tid])
        return tunes

    async def _check_settled(self, tune_id: int, params: PromptParams) -> tuple[int, ...]:
        """`check`, but a cap reached only with creates still unanswered waits for their
        answers: one that reached nobody (an outage) gives its count back."""
        while True:
            try:
                return self.check(tune_id, params)
            except FairUseError:
                charged = set(self.charged_tunes(tune_id, params.text))
                if not any(p.prompt_id is None and charged.intersection(p.tunes)
                           for p in self._flying):
                    raise
            if self._closed:
                raise ClientClosedError("the AstriaClient was closed while a create waited")
            await wait_event(self._changed, None, self._board.sleep)

    @contextlib.asynccontextmanager
    async def reserve(self, tune_id: int, params: PromptParams) -> AsyncIterator[Place | None]:
        """Check the caps, count the prompt and hold an in-flight place around its create.

        The count is undone when the create certainly did not reach Astria (or Astria refused
        it); after a 5xx, a timeout or a cancellation it stays, since the prompt may exist.
        """
        if self.policy is None or self._exempt(tune_id, params.text):
            yield None
            return
        tunes = await self._check_settled(tune_id, params)
        self._counts.update(tunes)  # counted at once, so concurrent creates see it
        place = Place(tunes)
        try:
            await self._take_place(place)
            await self._share(place)
        except BaseException:
            self._counts.subtract(tunes)
            raise
        try:
            yield place
        except BaseException as exc:
            uncount = not maybe_processed(exc)
            if uncount:
                self._counts.subtract(tunes)
            await self._give_back(place, uncount=uncount)
            raise
        if place.prompt_id is None:
            await self._give_back(place, uncount=False)

    async def _share(self, place: Place) -> None:
        if self.ledger is None:
            return
        assert self.policy is not None
        try:
            await self.ledger.reserve(place, self.policy, self._ttl, self._watching,
                                      self._place_timeout())
        except BaseException:
            self._release(place)
            raise

    async def _give_back(self, place: Place, *, uncount: bool) -> None:
        self._release(place)
        if self.ledger is not None:
            try:
                await self.ledger.release(place, uncount=uncount)
            except Exception:  # the create's own outcome matters more; the place expires
                logger.warning("fair use: the shared ledger did not take back a place",
                               exc_info=True)

    def created(self, place: Place | None, prompt: Prompt) -> None:
        """Tie a place to the prompt its create returned."""
        if place is None:
            return
        place.prompt_id = prompt.id
        self._by_prompt[prompt.id] = place
        if self.ledger is not None:
            self.ledger.created(place, prompt.id)
        board = self._board
        board.feed(prompt)  # known first, so watching it costs no extra look now
        known = board.get(prompt.id)
        if prompt.is_finished or (known is not None and known.is_finished):
            self.finished(prompt)
        elif not self._closed:
            # Watched while it holds a place, even if nobody waits for it: its place is freed
            # when the board sees it finish, within the ticks the board runs anyway.
            place.watcher = board.watch((prompt.id,), self._wait)

    def finished(self, prompt: Prompt) -> None:
        """Board listener: a prompt finished, so its place is free."""
        place = self._by_prompt.pop(prompt.id, None)
        if place is not None:
            self._release(place)
        if self.ledger is not None:  # maybe the place of a process that has gone
            self.ledger.finished(prompt.id)

    def _release(self, place: Place) -> None:
        if place.watcher is not None:
            self._board.unwatch(place.watcher)
            place.watcher = None
        if place in self._flying:
            self._flying.remove(place)
            if place.prompt_id is not None:
                self._by_prompt.pop(place.prompt_id, None)
            self._signal()

    def _signal(self) -> None:
        # A fresh event per generation: every waiting create wakes and re-checks.
        self._changed.set()
        self._changed = asyncio.Event()

    def _blockers(self, tunes: tuple[int, ...]) -> tuple[str, int, list[Place]]:
        """The full in-flight bound (its policy field and value) and the places filling it."""
        policy = self.policy
        assert policy is not None
        if policy.max_in_flight is not None and len(self._flying) >= policy.max_in_flight:
            return "max_in_flight", policy.max_in_flight, list(self._flying)
        if policy.max_in_flight_per_tune is not None:
            for tid in tunes:
                mine = [p for p in self._flying if tid in p.tunes]
                if len(mine) >= policy.max_in_flight_per_tune:
                    return "max_in_flight_per_tune", policy.max_in_flight_per_tune, mine
        return "", 0, []

    def _tell(self, kind: str, place: Place, limit: str, in_flight: int, cap: int) -> None:
        event = FairUseEvent(kind, place.tunes, limit, in_flight, cap)
        for listener in list(self.listeners):
            listener(event)

    @property
    def _ttl(self) -> float:
        return self._wait.timeout or FAIR_USE_IN_FLIGHT_EXPIRY

    @contextlib.contextmanager
    def _watching(self, ids: list[int]) -> Iterator[None]:
        # Watching the blockers makes the board refresh them; its listener frees places.
        watcher = self._board.watch(ids, self._wait) if ids else None
        try:
            yield
        finally:
            if watcher is not None:
                self._board.unwatch(watcher)

    async def _take_place(self, place: Place) -> None:
        """Wait for an in-flight place, at most `place_timeout` (or the prompt wait timeout).

        The blocking prompts are on the board (watched since their creates), so their places
        free as soon as a tick, a wait or a callback sees them finish.
        """
        board = self._board
        ttl = self._ttl
        limit_s = self._place_timeout()
        deadline = None if limit_s is None else board.clock() + limit_s
        waited: tuple[str, int, int] | None = None
        while True:
            if self._closed:
                raise ClientClosedError("the AstriaClient was closed while a create waited")
            now = board.clock()
            for stale in [p for p in self._flying if p.prompt_id is not None
                          and now - p.since > ttl]:
                logger.warning("fair use: prompt %s not seen finishing in %.0f s; no longer "
                               "counted as in flight", stale.prompt_id, ttl)
                self._release(stale)
            limit, cap, blockers = self._blockers(place.tunes)
            if not blockers:
                place.since = now
                self._flying.append(place)
                if waited is not None:
                    self._tell("placed", place, *waited)
                return
            if waited is None:  # said once per create, not at every wake
                logger.info("fair use: %d prompts in flight (FairUsePolicy.%s = %d); the create "
                            "waits for one to finish", len(blockers), limit, cap)
                self._tell("waiting", place, limit, len(blockers), cap)
            waited = (limit, len(blockers), cap)
            if deadline is not None and now >= deadline:
                self._tell("gave_up", place, *waited)
                raise self._gave_up(place, limit, cap, len(blockers))
            wake = [p.since + ttl for p in blockers if p.prompt_id is not None]
            if deadline is not None:
                wake.append(deadline)
            await wait_event(self._changed, min(wake) - now + 0.001 if wake else None,
                             board.sleep)

    def _place_timeout(self) -> float | None:
        assert self.policy is not None
        return self.policy.place_timeout or self._wait.timeout

    def _gave_up(self, place: Place, limit: str, cap: int, flying: int) -> FairUseError:
        tid = place.tunes[0] if place.tunes else None
        which = "in all" if limit == "max_in_flight" else f"on tune {tid}"
        return FairUseError(
            f"no in-flight place within {self._place_timeout():g} s "
            "(FairUsePolicy.place_timeout): "
            f"{flying} prompts in flight {which}, FairUsePolicy.{limit} = {cap}; nothing was "
            "sent; " + _HOW.format(field=limit), limit=limit, tune_id=tid, cap=cap,
            used=flying, in_flight=flying)
