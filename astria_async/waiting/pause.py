"""The account-wide 429 pause: one per client, read by every board before it polls.

Astria rate-limits the account, not one endpoint (API notes §13), so a 429 on any request —
the user's own create included — means the boards' next refresh would be refused too. The
transport reports every 429 here; each board ticks no earlier than `until()`.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol

from .._aio import Clock
from .._config import RATE_PAUSE_BASE, RATE_PAUSE_MAX
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


class LocalPause:
    """The pause of one process: a deadline on the injected clock.

    A 429 with Retry-After pauses for that long; one without pauses `RATE_PAUSE_BASE`
    seconds, doubling while they repeat, up to `RATE_PAUSE_MAX`.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._until = -math.inf
        self._streak = 0
        self._last: RateLimitError | None = None

    def until(self) -> float:
        """The clock time before which no wait polls (-inf when not paused)."""
        return self._until

    def rate_limited(self, exc: RateLimitError) -> float:
        """Note a 429 from any request; returns the seconds the waits now pause."""
        if exc is self._last:  # the same error reported by the transport and by a board
            return max(0.0, self._until - self.clock())
        self._last = exc
        self._streak += 1
        pause = exc.retry_after
        if pause is None:
            pause = min(RATE_PAUSE_MAX, RATE_PAUSE_BASE * 2.0 ** (self._streak - 1))
        self._until = max(self._until, self.clock() + pause)
        logger.warning("rate limited (429); every wait pauses %.1f s", pause)
        return pause

    def recovered(self) -> None:
        """A refresh went through: the next 429 without Retry-After starts from the base."""
        self._streak = 0

    def extend(self, seconds: float) -> None:
        """Pause at least `seconds` from now (a 429 another process saw, say)."""
        self._until = max(self._until, self.clock() + seconds)
