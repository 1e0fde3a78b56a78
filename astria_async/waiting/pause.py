"""The account-wide 429 pause: one per client, read by every board before it polls.

Astria rate-limits the account, not one endpoint (API notes §13), so a 429 on any request —
the user's own create included — means the boards' next refresh would be refused too. The
transport reports every 429 here; each board ticks no earlier than `until()`.

How long a 429 pauses is `pause_seconds`, one function every implementation (this local
one, or one shared by workers) calls: `min(Retry-After, cap)`, the cap for a Retry-After
that is garbage, negative or infinite (a server must not stop every wait for the life of
the client), and 5 s doubling up to the cap when there is no Retry-After.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from .._aio import Clock
from .._config import RATE_PAUSE_BASE, RATE_PAUSE_MAX
from .._retry import parse_retry_after
from ..errors import RateLimitError

logger = logging.getLogger("astria_async")


class Pause(Protocol):
    """What boards and the transport need of the account pause (local, or shared by workers)."""

    def until(self) -> float:
        """The clock time before which no wait polls (-inf when not paused)."""
        ...

    def rate_limited(self, exc: RateLimitError) -> float:
        """Note a 429 from any request; returns the seconds the waits now pause."""
        ...

    def recovered(self) -> None:
        """A refresh went through: the next 429 without Retry-After starts from the base."""
        ...

    def cause(self) -> str | None:
        """The request whose 429 set the current pause ("POST /tunes/1/prompts"), if known."""
        ...


def _header(exc: RateLimitError) -> str | None:
    # `headers` is a plain dict copied from the answer: look the name up in any case.
    for name, value in exc.headers.items():
        if name.lower() == "retry-after":
            return value
    return None


def pause_seconds(exc: RateLimitError, *, cap: float, streak: int) -> float:
    """Seconds a 429 pauses every wait; `streak` counts the 429s in a row, this one included.

    Retry-After in seconds or as an HTTP date is honoured up to `cap`; a value that is not a
    number or a date, negative, infinite or NaN counts as `cap` (the server asked for a pause
    and did not say a usable length). Without Retry-After: `RATE_PAUSE_BASE` seconds,
    doubling with each 429 in a row, at most `RATE_PAUSE_MAX` and `cap`.
    """
    cap = max(0.0, cap)
    header = _header(exc)
    if header is None:
        if exc.retry_after is None:
            return min(cap, RATE_PAUSE_MAX, RATE_PAUSE_BASE * 2.0 ** max(0, streak - 1))
        value: float | None = exc.retry_after
    else:
        try:
            value = float(header.strip())
        except ValueError:  # not a number: an HTTP date (a past one is 0), or garbage
            value = parse_retry_after(header)
    if value is None or not math.isfinite(value) or value < 0:
        return cap
    return min(value, cap)


def describe(exc: RateLimitError) -> str:
    """The request a 429 answered, for log lines and deadline messages."""
    return f"{exc.method} {exc.path}".strip() or "a request"


def log_pause(seconds: float, exc: RateLimitError, *, busy: bool) -> None:
    """The one log line of a 429: WARNING when waits are paused, DEBUG when nothing waits
    (the transport's INFO line of the request already records the 429 then)."""
    level = logging.WARNING if busy else logging.DEBUG
    if logger.isEnabledFor(level):
        what = "every wait pauses" if busy else "nothing is waiting; waits would pause"
        logger.log(level, "rate limited (429) on %s; %s %.1f s", describe(exc), what, seconds)


class LocalPause:
    """The pause of one process: a deadline on the injected clock.

    Args:
        clock: the clock of the boards.
        cap: the longest pause (the client passes `RetryPolicy.retry_after_cap`).
        busy: whether any wait is running (decides the log level of a 429).
    """

    def __init__(self, clock: Clock = time.monotonic, *, cap: float = RATE_PAUSE_MAX,
                 busy: Callable[[], bool] | None = None) -> None:
        self.clock = clock
        self.cap = cap
        self._busy = busy
        self._until = -math.inf
        self._streak = 0
        self._last: RateLimitError | None = None
        self._cause: str | None = None

    def until(self) -> float:
        """The clock time before which no wait polls (-inf when not paused)."""
        return self._until

    def cause(self) -> str | None:
        """The request whose 429 set the current pause, if any."""
        return self._cause

    def rate_limited(self, exc: RateLimitError) -> float:
        """Note a 429 from any request; returns the seconds the waits now pause."""
        if exc is self._last:  # the same error reported by the transport and by a board
            return max(0.0, self._until - self.clock())
        self._last = exc
        self._streak += 1
        pause = pause_seconds(exc, cap=self.cap, streak=self._streak)
        end = self.clock() + pause
        if end >= self._until:
            self._until = end
            self._cause = describe(exc)
        log_pause(pause, exc, busy=self._busy() if self._busy is not None else True)
        return pause

    def recovered(self) -> None:
        """A refresh went through: the next 429 without Retry-After starts from the base."""
        self._streak = 0

    def extend(self, seconds: float, cause: str | None = None) -> None:
        """Pause at least `seconds` (at most `cap`) from now: a 429 another process saw."""
        end = self.clock() + min(max(0.0, seconds), self.cap)
        if end > self._until:
            self._until = end
            self._cause = cause or self._cause
