"""The batch journal in Redis: several workers run one job file against one shared state.

Each job is a hash `batch:<name>:job:<key>` in the account's namespace; its `owner` field
names the worker holding it. A worker is alive while its lease key `batch:<name>:alive:<id>`
exists (renewed every third of the lease by a task); a job whose worker's lease lapsed is
free, and the next worker to take it finds it in the state the dead worker journaled: a
`creating` one is looked up on the server by the runner, never re-sent blindly.

Durability is Redis's: the coordination refuses a server without its append-only file, and
`appendfsync always` makes each "creating" mark durable before the create is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import attrs

from .._fields_repr import fields_repr
from ..coordination._redis import RedisCoordination, redacted
from ..errors import AstriaError, ConfigurationError
from ._jobs import Job, canonical
from ._journal import Mark, MarkRefused, Row, StateFileError, StateLockedError

if TYPE_CHECKING:
    from .._client import AstriaClient

logger = logging.getLogger("astria_async")

LEASE = 10.0  # seconds a worker's jobs stay its own after its last renewal
# Seconds between checks of the jobs other workers hold (one round trip for all of them): a
# worker whose own jobs are over notices theirs finishing within this, not half a lease later.
RECHECK = 1.0
ADD_CHUNK = 500  # jobs per JOB_ADD call (a script holds the server while it runs)
ROWS_CHUNK = 1_000  # job hashes read per pipeline


@attrs.frozen
class Worker:
    """A worker of a shared batch journal, as `RedisJournal.workers` lists it."""

    __repr__ = fields_repr

    id: str
    description: str
    alive: bool


def _row(key: str, fields: dict[str, str]) -> Row:
    def number(name: str) -> int:
        return int(fields.get(name) or 0)

    prompt = fields.get("prompt_id")
    at = fields.get("creating_at")
    status: Any = fields["status"]
    return Row(key=key, line=number("line"), tune_id=number("tune_id"), spec=fields["spec"],
               status=status, prompt_id=int(prompt) if prompt else None,
               creating_at=float(at) if at else None, creates=number("creates"),
               cost_mc=number("cost_mc"), images=number("images"),
               error=fields.get("error") or None)


class RedisJournal:
    """A `batch.SharedJournal` in Redis, on the coordination of the worker's client.

    Args:
        coordination: the client's (`AstriaClient.coordination`): the same connections,
            namespace and account pause.
        name: the batch's name in that namespace (`[A-Za-z0-9._-]`).
        lease: seconds a dead worker's jobs stay held before another worker takes them.
    """

    def __init__(self, coordination: RedisCoordination, name: str, *,
                 lease: float = LEASE) -> None:
        self.coordination = coordination
        self.name = name
        self.lease = lease
        self.retry_after = min(RECHECK, lease / 2)
        self.worker = secrets.token_hex(8)
        self._prefix = coordination.key(f"batch:{name}:")
        self._heartbeat: asyncio.Task[None] | None = None
        self._description = ""

    def _key(self, name: str) -> str:
        return self._prefix + name

    @property
    def _alive(self) -> str:
        return self._key("alive:") + self.worker

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.coordination.script(name, keys, args)

    # --- ownership --------------------------------------------------------------------

    async def claim(self) -> None:
        """Join the batch as one more worker (checks Redis: reachable, append-only file on).

        Raises:
            StateLockedError: this handle has already joined.
            CoordinationError: Redis is unreachable or unsafe.
        """
        if self._heartbeat is not None:
            raise StateLockedError(f"batch {self.name!r}: this worker ({self.worker}) has "
                                   "already joined", self._description)
        await self.coordination.start()
        self._description = (f"pid {os.getpid()} on {socket.gethostname()} "
                             f"since {time.ctime()}")
        await self._renew()
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._beat(), name="astria-batch-lease")

    async def _renew(self) -> None:
        co = self.coordination
        async with co.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._alive, self._description, px=max(1, round(self.lease * 1000)))
            pipe.hset(self._key("workers"), self.worker, self._description)
            await co.call(pipe.execute())

    async def _beat(self) -> None:
        # Until `close` (not only until cancelled): a cancellation can be lost inside the
        # Redis client after a Redis restart, turned into a Redis error; the loop went on,
        # and `close` waited for it for ever.
        while self._heartbeat is not None:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._renew()
            except AstriaError as exc:  # Redis away: the lease may lapse; work goes on
                logger.warning("batch journal: lease not renewed: %s", exc)

    async def close(self) -> None:
        """Leave the batch: this worker's unfinished jobs are free for others at once."""
        task, self._heartbeat = self._heartbeat, None
        if task is None:
            return
        task.cancel()
        # `wait`, not `await task` under suppress(CancelledError): that also swallowed a
        # cancellation of `close` itself.
        await asyncio.wait({task})
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
        co = self.coordination
        with contextlib.suppress(AstriaError):
            async with co.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._alive)
                pipe.hdel(self._key("workers"), self.worker)
                await co.call(pipe.execute())

    async def take(self, key: str) -> Row | None:
        """Hold `key` for this worker; its row now, or None while a live worker holds it."""
        answer = await self._script("JOB_TAKE", [self._key("job:") + key],
                                    [self.worker, self._key("alive:")])
        if answer[0] == "missing":
            raise StateFileError(f"batch {self.name!r}: job {key!r} is not journaled")
        if answer[0] == "held":
            return None
        fields = dict(zip(answer[1::2], answer[2::2], strict=True))
        return _row(key, fields)

    async def held(self, keys: Sequence[str]) -> tuple[list[str], list[str]]:
        """Of `keys` (in order): those another live worker still holds unfinished, and those
        free to take; finished jobs are in neither. One round trip per `ADD_CHUNK` keys."""
        still: list[str] = []
        free: list[str] = []
        for start in range(0, len(keys), ADD_CHUNK):
            chunk = list(keys[start:start + ADD_CHUNK])
            states = await self._script("JOB_HELD", [], [self._key("job:"), self.worker,
                                                         self._key("alive:"), *chunk])
            for key, state in zip(chunk, states, strict=True):
                if state == 1:
                    still.append(key)
                elif state == 0:
                    free.append(key)
        return still, free

    async def workers(self) -> list[Worker]:
        """Every worker that joined and has not left, alive or not (its lease lapsed)."""
        co = self.coordination
        known: dict[str, str] = await co.call(co.redis.hgetall(self._key("workers")))
        ids = sorted(known)
        alive = [bool(await co.call(co.redis.exists(self._key("alive:") + w))) for w in ids]
        return [Worker(w, known[w], up) for w, up in zip(ids, alive, strict=True)]

    # --- the rows ---------------------------------------------------------------------

    async def add(self, jobs: Sequence[Job], *, retry_failed: bool = False) -> None:
        for start in range(0, len(jobs), ADD_CHUNK):
            args: list[Any] = [self._key("job:"), int(retry_failed)]
            for job in jobs[start:start + ADD_CHUNK]:
                args += [job.key, job.line, job.tune_id, canonical(job.spec)]
            await self._script("JOB_ADD", [self._key("jobs")], args)

    async def rows(self) -> dict[str, Row]:
        co = self.coordination
        keys = sorted(await co.call(co.redis.smembers(self._key("jobs"))))
        found: list[Row] = []
        for start in range(0, len(keys), ROWS_CHUNK):
            chunk = keys[start:start + ROWS_CHUNK]
            async with co.redis.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.hgetall(self._key("job:") + key)
                answers = await co.call(pipe.execute())
            found += [_row(k, a) for k, a in zip(chunk, answers, strict=True) if a]
        found.sort(key=lambda r: (r.line, r.key))
        return {r.key: r for r in found}

    async def creating(self, marks: Sequence[Mark]) -> float:
        """Mark the jobs creating in one round trip that also checks this worker holds each
        and that the account is not paused (a 429 any worker saw): while it is, waits."""
        args: list[Any] = [self._key("job:"), self.worker]
        for mark in marks:
            args += [mark.key, mark.cost_mc]
        while True:
            answer = await self._script(
                "JOB_MARK", [self.coordination.key("pause")], args)
            if answer[0] != "pause":
                break
            await asyncio.sleep(int(answer[1]) / 1000)
        at = float(answer[1])
        refused: dict[str, AstriaError] = {
            key: StateLockedError(f"job {key} is held by another worker ({holder or 'none'});"
                                  " this one leaves it", holder or None)
            for key, holder in zip(answer[2::2], answer[3::2], strict=True)}
        if refused:
            raise MarkRefused(refused, at)
        return at

    async def _set(self, key: str, values: dict[str, Any], drop: Sequence[str] = (), *,
                   progress: int | None = None) -> None:
        args: list[Any] = [self.worker, "" if progress is None else progress, len(values)]
        for name, value in values.items():
            args += [name, value]
        await self._script("JOB_SET", [self._key("job:") + key], [*args, *drop])

    async def created(self, key: str, prompt_id: int, cost_mc: int | None = None) -> None:
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        await self._set(key, {"status": "created", "prompt_id": prompt_id, **extra}, ["error"],
                        progress=2)

    async def unsent(self, key: str, error: str) -> None:
        # Given up for this run (e.g. a 429): free for any worker still running (each skips
        # jobs held by a live worker, so keeping it would make them wait for this one).
        await self._set(key, {"status": "pending", "cost_mc": 0, "error": error}, ["owner"])

    async def note(self, key: str, error: str) -> None:
        await self._set(key, {"error": error})

    async def done(self, key: str, images: int, cost_mc: int | None = None) -> None:
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        await self._set(key, {"status": "done", "images": images, **extra}, ["error"],
                        progress=3)

    async def failed(self, key: str, error: str, cost_mc: int | None = None) -> None:
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        await self._set(key, {"status": "failed", "error": error, **extra})


_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def parse_state(url: str) -> tuple[str, str, float | None]:
    """Split a batch state `redis://host:6379/0/<job-name>[?lease=SECONDS]` into the Redis
    URL (`redis://host:6379/0`), the batch's name and the lease asked for (None: default).

    Raises:
        ConfigurationError: not that shape (named in the message).
    """
    parts = urlsplit(url)
    db, _, name = parts.path.strip("/").rpartition("/")
    query = dict(parse_qsl(parts.query))
    lease = query.pop("lease", None)
    how = ("use redis://host:6379/0/<job-name> (the database number, then the batch's name: "
           "letters, digits, '.', '_', '-')")
    if parts.scheme not in ("redis", "rediss") or not db.isdigit() or not _NAME.fullmatch(name):
        raise ConfigurationError(f"--state {url!r} is not a Redis batch state; {how}")
    try:
        seconds = None if lease is None else float(lease)
    except ValueError:
        seconds = -1.0
    if seconds is not None and not 0 < seconds <= 3600:
        raise ConfigurationError(f"--state {url!r}: lease={lease} must be seconds in (0, 3600]")
    rest = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit(parts._replace(path=f"/{db}", query=rest)), name, seconds


def batch_journal(client: AstriaClient, url: str) -> RedisJournal:
    """The shared batch journal behind a `redis://host:6379/0/<job-name>` state, on the
    client's own coordination (the same Redis: fair use, pause and board are shared too).

    Raises:
        ConfigurationError: a malformed URL, or a client not coordinating through that Redis.
    """
    base, name, lease = parse_state(url)
    co = client.coordination
    if co is None or co.url != redacted(base):
        now = "none" if co is None else co.url
        raise ConfigurationError(
            f"a batch state in Redis needs a client coordinating through the same Redis: "
            f"AstriaClient(coordination={redacted(base)!r}) (the client has: {now})")
    return RedisJournal(co, name, lease=lease or LEASE)
