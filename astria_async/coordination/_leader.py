"""One board per account: a leader polls for every worker, the others listen.

Each worker registers the ids its waits watch (a sorted set with an expiry, refreshed while
it watches). The worker holding the lease (renewed every `CYCLE`, lost after `LEASE` without
renewal) watches all registered ids on its own board, and its board's source publishes every
new state of a registered id: on the channel for the listening workers, and in a key for a
worker that registers the id later. A follower's board does not tick (`Board.leading`); the
states arrive by `feed`. If the leader dies, another worker takes the lease within about one
`LEASE`; if Redis is unreachable, each worker polls for its own waits again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol

from ..errors import CoordinationError
from ..models import Prompt, Tune
from ..waiting.board import Board
from ..waiting.paging import Source, T
from ..waiting.policy import WaitPolicy
from ..waiting.waiters import Watcher

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("astria_async")


class Link(Protocol):
    """What the leadership uses of its Redis coordination (`_redis.RedisCoordination`, which
    sits above this module: it creates the leadership)."""

    redis: Redis
    channel: str
    sender: str
    on_feed: Callable[[str, Mapping[str, Any]], None] | None

    def key(self, name: str) -> str: ...

    async def call(self, op: Awaitable[Any]) -> Any: ...

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any: ...

    def later(self, name: str, keys: list[Any], args: list[Any]) -> None: ...


LEASE = 2.0  # seconds a leader's lease lasts without renewal
CYCLE = LEASE / 4  # seconds between renewals, registrations and reads of the watched ids
STATE_TTL = 3600.0  # seconds a published state stays readable for late registrations
BATCH = 1000  # ids per registration script (Lua's stack bounds a call's arguments)


class Kind(Generic[T]):
    """The shared side of one board: what this worker registered, what it polls for others."""

    def __init__(self, name: str, board: Board[T], policy: WaitPolicy) -> None:
        self.name = name
        self.board: Board[T] = board
        self.policy = policy
        self.registered: set[int] = set()
        self.refreshed = -1e18  # loop time of the last full registration
        self.union: frozenset[int] = frozenset()
        self.watcher: Watcher | None = None
        self.published: dict[int, Mapping[str, Any]] = {}

    def drop_union(self) -> None:
        if self.watcher is not None:
            self.board.unwatch(self.watcher)
        self.watcher, self.union = None, frozenset()
        self.published.clear()
        self.registered, self.refreshed = set(), -1e18  # register all own ids again


class Leadership:
    """Election, registration and publication for a client's boards."""

    def __init__(self, co: Link) -> None:
        self._co = co
        self.leading = True  # until the first election: a lone client polls for itself
        self._kinds: dict[str, Kind[Any]] = {}

    def attach(self, board: Board[T], policy: WaitPolicy) -> None:
        """Share `board` (the client's tune or prompt board; `policy` paces its polls)."""
        self._kinds[board.kind] = Kind(board.kind, board, policy)
        board.leading = lambda: self.leading

    def source(self, kind: str, inner: Source[T]) -> Source[T]:
        """`inner`, publishing what it fetches for other workers while this one leads."""
        return PublishingSource(inner, lambda items: self._publish(kind, items))

    async def cycle(self, now: float) -> None:
        """Renew or take the lease, register the watched ids, watch everyone's if leading."""
        co = self._co
        was = self.leading
        try:
            self.leading = bool(await co.script("LEAD", [co.key("leader")],
                                                [co.sender, round(LEASE * 1000)]))
        except CoordinationError as exc:
            if not was:
                logger.warning("coordination: %s; this worker polls for its own waits", exc)
            self.leading = True
        if self.leading != was:
            logger.info("coordination: this worker %s the polling",
                        "leads" if self.leading else "no longer leads")
            for kind in self._kinds.values():
                if not self.leading:
                    kind.drop_union()
                kind.board.nudge()
        for kind in self._kinds.values():
            await self._register(kind, now)
            if self.leading:
                await self._follow(kind)

    async def _register(self, kind: Kind[Any], now: float) -> None:
        co = self._co
        ids = set(kind.board.watched_ids()) - kind.union  # the union: others' to renew
        full = now - kind.refreshed >= LEASE
        send = ids if full else ids - kind.registered
        fresh = sorted(ids - kind.registered)
        kind.registered = ids
        if full:
            kind.refreshed = now
        key = co.key(f"watched:{kind.name}")
        todo = sorted(send)
        for i in range(0, len(todo), BATCH):
            await co.script("REGISTER", [key], [round(LEASE * 3000), *todo[i:i + BATCH]])
        if fresh and not self.leading:  # states published before this worker registered
            prefix = co.key(f"state:{kind.name}:")
            found = await co.call(co.redis.mget([prefix + str(oid) for oid in fresh]))
            for body in found:
                if body is not None:
                    self.heard(kind.name, json.loads(body))

    async def _follow(self, kind: Kind[Any]) -> None:
        co = self._co
        ids = frozenset(int(x) for x in await co.script(
            "WATCHED", [co.key(f"watched:{kind.name}")], []))
        if ids == kind.union:
            return
        old, added, kind.union = kind.watcher, ids - kind.union, ids
        kind.watcher = kind.board.watch(ids, kind.policy) if ids else None
        if old is not None:
            kind.board.unwatch(old)
        for oid in list(kind.published):
            if oid not in ids:
                del kind.published[oid]
        # The board never polls an id it already knows finished (learned before anyone
        # registered it, so not published then): such a state is published now.
        known = [obj.raw for oid in sorted(added) if (obj := kind.board.get(oid)) is not None]
        if known:
            self._publish(kind.name, known)

    def _publish(self, kind_name: str, items: Sequence[Any]) -> None:
        kind = self._kinds.get(kind_name)
        if kind is None or not self.leading or not kind.union:
            return
        news = [item for item in items if isinstance(item, Mapping)
                and isinstance(oid := item.get("id"), int) and oid in kind.union
                and kind.published.get(oid) != item]
        if not news:
            return
        for item in news:
            kind.published[item["id"]] = item
        co = self._co
        body = json.dumps([kind_name, news], separators=(",", ":"), default=str)
        args: list[Any] = [co.key(f"state:{kind_name}:"), round(STATE_TTL * 1000), co.channel,
                           f"states {co.sender} {body}"]
        for item in news:
            args += [item["id"], json.dumps(item, separators=(",", ":"), default=str)]
        co.later("STATES", [], args)

    def heard(self, kind_name: str, payload: Mapping[str, Any]) -> None:
        """A state the leader published: feed it to this worker's waits."""
        if self._co.on_feed is not None:
            self._co.on_feed("Tune" if kind_name == "tune" else "Prompt", payload)


class PublishingSource(Generic[T]):
    """A board source that hands what it fetched to `publish` (the leader's publication)."""

    def __init__(self, inner: Source[T], publish: Callable[[Sequence[Any]], None]) -> None:
        self._inner: Source[T] = inner
        self._publish = publish

    async def one(self, oid: int) -> T:
        """The object with id `oid`, from the inner source; published if someone waits."""
        obj = await self._inner.one(oid)
        if isinstance(obj, (Tune, Prompt)):
            self._publish([obj.raw])
        return obj

    async def page(self, before_id: int | None, parent: int | None = None) -> Sequence[Any]:
        """One list page from the inner source; the registered items on it are published."""
        items = await self._inner.page(before_id, parent)
        self._publish(items)
        return items

    def build(self, item: Any) -> T:
        """The model of one list item (the inner source's)."""
        return self._inner.build(item)
