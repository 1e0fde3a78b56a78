"""Coordination of many worker processes on one Astria account, through Redis.

`AstriaClient(coordination="redis://host:6379/0")` (or `ASTRIA_REDIS_URL`) makes every client
on the same account share one fair-use ledger and one 429 pause, and hands each callback
one of them receives to all of them. This module imports nothing from Redis: the backend,
`coordination._redis`, is loaded only when a URL is given and needs the `redis` extra
(`pip install 'astria-async[redis]'`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .._aio import Clock
from ..errors import ConfigurationError, CoordinationError

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ._journal import RedisJournal
    from ._redis import RedisCoordination

__all__ = ["CoordinationError", "batch_journal", "connect", "namespace_for", "parse_state"]

_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def namespace_for(api_key: str) -> str:
    """The default namespace of an account: a hash of its key, so accounts never share one."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def connect(url: str, *, namespace: str, clock: Clock, cap: float,
            busy: Callable[[], bool] | None = None) -> RedisCoordination:
    """The coordination behind `url` (only `redis://`, `rediss://` and `unix://` for now).

    `clock`, `cap` and `busy` are those of the account pause (see `waiting.pause.LocalPause`).

    Nothing is sent to Redis here; the first use connects and checks its persistence.

    Raises:
        ConfigurationError: not a Redis URL, or the `redis` extra is not installed.
    """
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(
            f"coordination={url!r} is not a Redis URL; use redis://host:6379/0, rediss://… "
            "or unix:///path/to/redis.sock")
    if not namespace or any(c in namespace for c in "{}: \n"):
        raise ConfigurationError(
            f"namespace={namespace!r} must be non-empty, without spaces, ':' or braces")
    try:
        from ._redis import RedisCoordination
    except ImportError as exc:  # pragma: no cover - the test extra installs redis
        raise ConfigurationError(
            "coordination through Redis needs the redis extra: "
            "pip install 'astria-async[redis]'") from exc
    return RedisCoordination(url, namespace=namespace, clock=clock, cap=cap, busy=busy)


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
    from ._journal import LEASE, RedisJournal
    from ._redis import redacted

    if co is None or co.url != redacted(base):
        now = "none" if co is None else co.url
        raise ConfigurationError(
            f"a batch state in Redis needs a client coordinating through the same Redis: "
            f"AstriaClient(coordination={redacted(base)!r}) (the client has: {now})")
    return RedisJournal(co, name, lease=lease or LEASE)
