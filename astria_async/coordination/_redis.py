"""The Redis backend: the shared fair-use ledger, the shared 429 pause, callback fan-out.

One `RedisCoordination` per client: a connection pool, one pub/sub listener task (pauses,
freed places and callbacks from other workers arrive on one channel), and one queue of
writes that need not hold up the caller (a prompt tied to its place, a finished prompt's
place freed, a pause shared), run in order by one task: whatever is queued when it looks is
sent in one round trip (a pipeline).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from .._aio import Clock
from ..errors import CoordinationError, FairUseError, RateLimitError
from ..waiting.fairuse import FairUsePolicy, Place, Watching
from ..waiting.pause import LocalPause, describe
from . import scripts
from ._leader import CYCLE, Leadership

logger = logging.getLogger("astria_async")

RECHECK = 1.0  # seconds a create waiting for a place sleeps at most between checks
RECONNECT = 1.0  # seconds the listener waits before subscribing again after a failure
DRAIN = 5.0  # seconds `aclose` gives queued writes to reach Redis
POOL = 32  # Redis connections per client at most (the listener holds one)
MINE = 100_000  # unfinished prompts a worker remembers as its own, at most
BATCH = 256  # queued writes sent in one round trip, at most
# A tune counted on the server by one worker is not counted again by the others for this long
# (they start from the shared count, which every create since has raised).
SEEDED = 600.0
SEED_CLAIM = 5.0  # seconds one worker's claim to count a tune lasts (it may die counting)
SEED_POLL = 0.25  # seconds between looks at a claim another worker holds

OnFeed = Callable[[str, Mapping[str, Any]], None]


def redacted(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisCoordination:
    """What the workers of one account share through one Redis (see `coordination`)."""

    def __init__(self, url: str, *, namespace: str, clock: Clock, cap: float,
                 busy: Callable[[], bool] | None = None) -> None:
        self.url = redacted(url)
        self.namespace = namespace
        # A bounded pool that makes callers queue for a connection: thousands of creates at
        # once must not open thousands of connections (Redis refuses past `maxclients`).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, socket_connect_timeout=5, socket_timeout=10,
            max_connections=POOL, timeout=10)
        self.redis = aioredis.Redis.from_pool(pool)
        self.prefix = f"astria:{{{namespace}}}:"
        self.channel = self.prefix + "events"
        self.sender = secrets.token_hex(6)  # this worker, to skip its own messages
        self.ops = 0  # Redis round trips sent (the benchmark reports them per job)
        self.on_feed: OnFeed | None = None
        self.pause = SharedPause(self, clock, cap=cap, busy=busy)
        self.ledger = RedisLedger(self)
        self.leadership = Leadership(self)
        self._scripts = {name: self.redis.register_script(getattr(scripts, name))
                         for name in ("RESERVE", "RELEASE", "CREATED", "SEED", "SEED_CLAIM",
                                      "PAUSE", "LEAD",
                                      "REGISTER", "WATCHED", "STATES", "RESIGN",
                                      "JOB_ADD", "JOB_TAKE", "JOB_HELD", "JOB_MARK",
                                      "JOB_SET")}
        self._started = False
        self._start_lock = asyncio.Lock()
        self._subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Queued writes: (a script of `scripts` or a plain command, keys, args).
        self._queue: asyncio.Queue[tuple[str, list[Any], list[Any]]] = asyncio.Queue()
        self._closed = False
        # Set when the tasks are cancelled: their loops end on it too, since a cancellation
        # can be lost inside the Redis client after a Redis restart (turned into a Redis
        # error, which the loops log and go on from), and `aclose` then waited for ever.
        self._stopping = False

    def key(self, name: str) -> str:
        """The Redis key `name` of this namespace."""
        return self.prefix + name

    def unreachable(self, exc: BaseException) -> CoordinationError:
        """The error a failed Redis call becomes."""
        return CoordinationError(
            f"Redis at {self.url} is unreachable or failed ({exc}); nothing was sent to "
            "Astria without a reservation; work continues when Redis answers again")

    async def call(self, op: Awaitable[Any]) -> Any:
        """Run one Redis round trip; a Redis failure becomes `CoordinationError`."""
        self.ops += 1
        try:
            return await op
        except RedisError as exc:
            raise self.unreachable(exc) from exc

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of `scripts` (EVALSHA; all of them loaded again if Redis lost them)."""
        sha = self._scripts[name].sha
        try:
            return await self.call(self.redis.evalsha(sha, len(keys), *keys, *args))
        except CoordinationError as exc:
            if not isinstance(exc.__cause__, NoScriptError):
                raise
        # All at once, never one by one: then the queued writes of a pipeline fail together
        # or not at all, and sent again they keep their order (see `_send`).
        await self._load_scripts()
        return await self.call(self.redis.evalsha(sha, len(keys), *keys, *args))

    # --- start and close ------------------------------------------------------------

    async def start(self) -> None:
        """Check the server's persistence, read the pause, start listening (once).

        Raises:
            CoordinationError: Redis is unreachable, or its append-only file is off.
        """
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise CoordinationError("the coordination was closed with its AstriaClient")
            info = await self.call(self.redis.info("persistence"))
            if str(info.get("aof_enabled", "0")) != "1":
                raise CoordinationError(
                    f"Redis at {self.url} has no append-only file: a restart would forget "
                    "reservations and lead to prompts paid twice. Turn it on with "
                    "`appendonly yes` in redis.conf (now: CONFIG SET appendonly yes); "
                    "`appendfsync always` is safest for batch journals")
            await self._load_scripts()  # queued writes send EVALSHA without a fallback
            left = await self.call(self.redis.pttl(self.key("pause")))
            if left > 0:
                self.pause.extend(left / 1000)
            loop = asyncio.get_running_loop()
            self._tasks += [loop.create_task(self._listen(), name="astria-redis-listener"),
                            loop.create_task(self._drain(), name="astria-redis-writes")]
            self._started = True
            # Messages sent from here on reach this worker; then the first election.
            await asyncio.wait_for(self._subscribed.wait(), 10)
            await self.leadership.cycle(loop.time())
            self._tasks.append(loop.create_task(self._lead(), name="astria-redis-leader"))

    async def _lead(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await asyncio.sleep(CYCLE)
            try:
                await self.leadership.cycle(loop.time())
            except CoordinationError as exc:
                logger.warning("coordination: %s", exc)

    async def aclose(self) -> None:
        """Send the queued writes (for a few seconds at most), stop listening, disconnect."""
        self._closed = True
        if self._started:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._queue.join(), DRAIN)
            if self.leadership.leading:
                with contextlib.suppress(CoordinationError, asyncio.TimeoutError):
                    await asyncio.wait_for(self.script(
                        "RESIGN", [self.key("leader")], [self.sender]), DRAIN)
        self._stopping = True
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.redis.aclose()

    # --- writes that do not hold up the caller ----------------------------------------

    def later(self, name: str, keys: list[Any], args: list[Any]) -> None:
        """Queue a write: one of `scripts` by name, or a plain command ("PUBLISH", ...).

        They run in order once the coordination has started; each is atomic on its own.
        """
        if self._closed:
            return
        self._queue.put_nowait((name, keys, args))
        if not self._started and not self._tasks:  # a write before any reservation: start
            self._tasks.append(asyncio.get_running_loop().create_task(
                self._start_quietly(), name="astria-redis-start"))

    async def _start_quietly(self) -> None:
        try:
            await self.start()
        except CoordinationError as exc:
            logger.warning("coordination: %s", exc)

    async def _drain(self) -> None:
        while not self._stopping:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._send(batch)
            except CoordinationError as exc:
                logger.warning("coordination: %d queued writes were lost: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _send(self, batch: list[tuple[str, list[Any], list[Any]]], *,
                    again: bool = True) -> None:
        """The writes in one round trip: a pipeline, not a transaction (each write is atomic
        on its own, and none depends on another's answer).

        Writes whose script Redis no longer knows (restarted, or SCRIPT FLUSH) are sent again,
        in order, once the scripts are loaded. Scripts are only ever loaded all together, so
        the script writes of one pipeline all fail or all run, and their order holds; the
        plain commands queued (PUBLISH of a callback, HINCRBY of a count) commute with them.
        They are sent again once (`again`): refused again, they are logged as lost.
        """
        pipe = self.redis.pipeline(transaction=False)
        for name, keys, args in batch:
            script = self._scripts.get(name)
            if script is None:
                pipe.execute_command(name, *keys, *args)
            else:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
        answers = await self.call(pipe.execute(raise_on_error=False))
        unknown = []
        for write, answer in zip(batch, answers, strict=True):
            if again and isinstance(answer, NoScriptError):
                unknown.append(write)
            elif isinstance(answer, Exception):
                logger.warning("coordination: a queued %s failed: %s", write[0], answer)
        if unknown:
            await self._load_scripts()
            await self._send(unknown, again=False)

    async def _load_scripts(self) -> None:
        """Every script of `scripts` known to Redis (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for script in self._scripts.values():
            pipe.script_load(script.script)
        await self.call(pipe.execute())

    # --- the listener -----------------------------------------------------------------

    async def _listen(self) -> None:
        while not self._stopping:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._heard(str(message["data"]))
            except (RedisError, OSError) as exc:
                logger.warning("coordination: lost the Redis channel (%s); retrying", exc)
            await asyncio.sleep(RECONNECT)

    def _heard(self, message: str) -> None:
        kind, _, rest = message.partition(" ")
        if kind == "released":
            self.ledger.signal()
        elif kind == "pause":
            ms, sender, cause = [*rest.split(" ", 2), "", ""][:3]
            if sender != self.sender:
                self.pause.extend(int(ms) / 1000, cause or None)
        elif kind == "states":
            sender, _, body = rest.partition(" ")
            if sender != self.sender:
                what, items = json.loads(body)
                for item in items:
                    self._feed(what, item, self.leadership.heard)
        elif kind == "feed":
            sender, _, body = rest.partition(" ")
            if sender != self.sender and self.on_feed is not None:
                what, payload = json.loads(body)
                self._feed(what, payload, self.on_feed)

    @staticmethod
    def _feed(what: str, payload: Mapping[str, Any], feed: OnFeed) -> None:
        try:
            feed(what, payload)
        except Exception:  # one bad payload must not stop the listener
            logger.exception("coordination: a state from another worker could not be used")

    def share_feed(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Hand a callback's object to every other worker (they feed their waits)."""
        body = json.dumps([kind, dict(payload)], separators=(",", ":"), default=str)
        message = f"feed {self.sender} {body}"
        self.later("PUBLISH", [self.channel], [message])


class SharedPause(LocalPause):
    """The account pause of one worker, lengthened by the 429s every worker sees."""

    def __init__(self, coordination: RedisCoordination, clock: Clock, *, cap: float,
                 busy: Callable[[], bool] | None) -> None:
        super().__init__(clock, cap=cap, busy=busy)
        self._coordination = coordination

    def rate_limited(self, exc: RateLimitError) -> float:
        """Note a 429 here and tell the other workers; returns the seconds waits pause."""
        first = exc is not self._last_error
        pause = super().rate_limited(exc)
        if first:
            self._last_error = exc
            co = self._coordination
            ms = max(1, round(pause * 1000))
            co.later("PAUSE", [co.key("pause")],
                     [ms, co.channel, f"pause {ms} {co.sender} {describe(exc)}"])
        return pause

    _last_error: RateLimitError | None = None


class RedisLedger:
    """The fair-use ledger every worker of an account shares (see `fairuse.Ledger`)."""

    def __init__(self, coordination: RedisCoordination) -> None:
        self._co = coordination
        self._changed = asyncio.Event()
        # Prompts whose places this worker took, unfinished (oldest first). Bounded: a prompt
        # never seen finishing has its place expire in Redis anyway.
        self._mine: dict[int, None] = {}
        self._queues: dict[tuple[str, str], asyncio.Lock] = {}
        co = coordination
        self._keys = [co.key("counts"), co.key("flying"), co.key("places"),
                      co.key("place-prompt"), co.key("prompt-place")]

    def signal(self) -> None:
        """A place was freed somewhere: creates waiting for one check again."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def reserve(self, place: Place, policy: FairUsePolicy, ttl: float,
                      watching: Watching, timeout: float | None) -> None:
        """Count and hold a place across all workers (see `fairuse.Ledger.reserve`)."""
        co = self._co
        await co.start()
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        args: list[Any] = [place.token, max(1, round(ttl * 1000)), policy.tune_cap,
                           policy.max_in_flight or 0, policy.max_in_flight_per_tune or 0,
                           *place.tunes]
        queue: asyncio.Lock | None = None
        try:
            while True:
                changed = self._changed
                answer = await co.script("RESERVE", self._keys, args)
                if answer[0] == "ok":
                    return
                self._refuse(answer, policy, deadline, timeout)
                if queue is None:
                    # Creates blocked on one bound wait in line, and only the first asks Redis
                    # again when a place frees: every blocked create retrying at every freed
                    # place made the Redis calls grow with waiters times places.
                    queue = self._queues.setdefault((answer[0], answer[1]), asyncio.Lock())
                    try:
                        await asyncio.wait_for(queue.acquire(), self._left(deadline))
                    except asyncio.TimeoutError:
                        queue = None
                    continue
                with watching([int(pid) for pid in answer[3:]]), \
                        contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(RECHECK, self._left(deadline)))
        finally:
            if queue is not None:
                queue.release()

    @staticmethod
    def _left(deadline: float | None) -> float:
        if deadline is None:
            return RECHECK * 1e6
        return max(0.0, deadline - asyncio.get_running_loop().time())

    def _refuse(self, answer: list[Any], policy: FairUsePolicy, deadline: float | None,
                timeout: float | None) -> None:
        """Raise `FairUseError` for a cap, or for a bound still full at the deadline."""
        kind = answer[0]
        if kind == "cap":
            raise FairUseError(
                f"tune {answer[1]} has had {answer[2]} prompts through all the workers "
                f"sharing namespace {self._co.namespace!r}; the fair-use cap is "
                f"{policy.tune_cap} ({policy.prompts_per_tune} per tune + "
                f"{policy.automatic_prompts} automatic, FairUsePolicy.prompts_per_tune); "
                "nothing was sent", limit="prompts_per_tune", tune_id=int(answer[1]),
                cap=policy.tune_cap, used=int(answer[2]))
        flying = int(answer[2])
        if deadline is not None and self._left(deadline) <= 0:
            cap = (policy.max_in_flight if kind == "max_in_flight"
                   else policy.max_in_flight_per_tune) or 0
            raise FairUseError(
                f"no in-flight place within {timeout:g} s (FairUsePolicy.place_timeout): "
                f"{flying} prompts in flight across the workers, FairUsePolicy.{kind} = "
                f"{cap}; nothing was sent", limit=kind,
                tune_id=int(answer[1]) if answer[1] else None, cap=cap, used=flying,
                in_flight=flying)
        logger.debug("fair use: %s prompts in flight across workers (FairUsePolicy.%s); "
                     "the create waits for one to finish", flying, kind)

    async def release(self, place: Place, *, uncount: bool) -> None:
        """Free a place now (the create failed, or it returned no prompt)."""
        await self._co.script("RELEASE", self._keys,
                              [place.token, int(uncount), "", self._co.channel])

    def created(self, place: Place, prompt_id: int) -> None:
        """Tie the place to its prompt (queued: the create need not wait for it)."""
        co = self._co
        self._mine[prompt_id] = None
        if len(self._mine) > MINE:
            del self._mine[next(iter(self._mine))]
        co.later("CREATED", self._keys[2:], [place.token, prompt_id])

    def finished(self, prompt_id: int) -> None:
        """Free the place of a finished prompt (queued).

        Its own worker frees it, and the leader frees every one it polls for (its worker
        may have gone); a follower hearing of another worker's prompt leaves it to them.
        """
        co = self._co
        if prompt_id in self._mine:
            del self._mine[prompt_id]
        elif not co.leadership.leading:
            return
        co.later("RELEASE", self._keys, ["", 0, prompt_id, co.channel])

    def record(self, tune_id: int, prompts: int) -> None:
        """Count prompts created some other way (queued)."""
        self._co.later("HINCRBY", [self._keys[0]], [str(tune_id), prompts])

    async def seed(self, tune_id: int, count: int) -> int:
        """Raise the shared count of a tune to at least `count`."""
        await self._co.start()
        return int(await self._co.script("SEED", [self._keys[0], self._seed_mark(tune_id)],
                                         [tune_id, count, round(SEEDED * 1000)]))

    async def seeded(self, tune_id: int) -> int | None:
        """None when this worker should count `tune_id` on the server (it now holds the claim
        for `SEED_CLAIM` s, or waited that long for another's); the shared count when another
        worker counted it in the last `SEEDED` s. A worker counting it now is waited for, at
        most `SEED_CLAIM` s (it may have died, or failed to count: the API is down)."""
        await self._co.start()
        keys = [self._keys[0], self._seed_mark(tune_id)]
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SEED_CLAIM
        while True:
            answer = await self._co.script("SEED_CLAIM", keys,
                                           [tune_id, round(SEED_CLAIM * 1000)])
            if answer[0] == "mine":
                return None
            if answer[0] == "done":
                return int(answer[1])
            if loop.time() >= give_up:
                return None
            await asyncio.sleep(SEED_POLL)

    def _seed_mark(self, tune_id: int) -> str:
        return self._co.key(f"seeded:{tune_id}")

    async def count(self, tune_id: int) -> int:
        """Prompts counted against `tune_id` by every worker."""
        await self._co.start()
        used = await self._co.call(self._co.redis.hget(self._keys[0], str(tune_id)))
        return int(used or 0)

    async def in_flight(self) -> int:
        """Unfinished prompts across every worker (expired places included until the next
        reservation drops them)."""
        await self._co.start()
        return int(await self._co.call(self._co.redis.zcard(self._keys[1])))
