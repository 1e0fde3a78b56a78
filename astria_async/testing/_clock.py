"""The fake's controllable clock."""

from __future__ import annotations

import time


class FakeClock:
    """Wall-clock seconds: real elapsed time × ``time_scale`` plus manual jumps.

    ``time_scale=1`` follows real time, ``time_scale=100`` runs 100× faster and
    ``time_scale=0`` (see :meth:`manual`) freezes time so only :meth:`advance`
    moves it.  ``advance`` works in every mode, so a test can always jump ahead.
    The fake reads the clock lazily on each request; it never ticks by itself.
    """

    def __init__(self, *, time_scale: float = 1.0, start: float | None = None) -> None:
        """Start at ``start`` (epoch seconds; default: now)."""
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.time_scale = float(time_scale)
        self._origin = time.time() if start is None else float(start)
        self._mono0 = time.monotonic()
        self._offset = 0.0

    @classmethod
    def manual(cls, start: float | None = None) -> FakeClock:
        """A frozen clock that only moves through :meth:`advance`."""
        return cls(time_scale=0.0, start=start)

    @property
    def is_manual(self) -> bool:
        """True when time stands still between advances."""
        return self.time_scale == 0.0

    def now(self) -> float:
        """Current fake time in epoch seconds."""
        elapsed = (time.monotonic() - self._mono0) * self.time_scale
        return self._origin + self._offset + elapsed

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` ahead (never back: objects only move forward in time)."""
        if seconds < 0:
            raise ValueError("cannot move the clock backwards")
        self._offset += float(seconds)

    def real_delay(self, fake_seconds: float) -> float | None:
        """Real seconds until ``fake_seconds`` pass, or None if that needs an advance."""
        if self.is_manual:
            return None
        return max(0.0, fake_seconds) / self.time_scale

    def __repr__(self) -> str:
        """Show the mode, not the internals."""
        return f"FakeClock(time_scale={self.time_scale})"
