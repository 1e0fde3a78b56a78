"""Coordination of many worker processes on one Astria account, through Redis.

`AstriaClient(coordination="redis://host:6379/0")` (or `ASTRIA_REDIS_URL`) makes every client
on the same account share one fair-use ledger and one 429 pause, and hands each callback
one of them receives to all of them. This module imports nothing from Redis: the backend,
`coordination._redis`, is loaded only when a URL is given and needs the `redis` extra
(`pip install 'astria-async[redis]'`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._aio import Clock
from ..errors import ConfigurationError, CoordinationError

if TYPE_CHECKING:
    from ._redis import RedisCoordination

__all__ = ["CoordinationError", "connect", "namespace_for"]


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
