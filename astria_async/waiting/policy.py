"""The policies of waiting, as pure attrs objects: `WaitPolicy` and `FairUsePolicy`."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import attrs

from .._config import (
    FAIR_USE_AUTOMATIC_PROMPTS,
    FAIR_USE_IN_FLIGHT,
    FAIR_USE_IN_FLIGHT_PER_TUNE,
    FAIR_USE_MAX_IMAGES,
    FAIR_USE_PROMPTS_PER_TUNE,
    PROMPT_WAIT_INTERVAL,
    PROMPT_WAIT_MAX_INTERVAL,
    PROMPT_WAIT_TIMEOUT,
    TUNE_WAIT_INTERVAL,
    TUNE_WAIT_MAX_INTERVAL,
    TUNE_WAIT_TIMEOUT,
    WAIT_JITTER,
    WAIT_MULTIPLIER,
)
from .._fields_repr import fields_repr


def _number(name: str, value: Any, *, low: float, inclusive: bool = True,
            high: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value >= low if inclusive else value > low) and (high is None or value < high)
    if not ok:
        bound = f">= {low:g}" if inclusive else f"> {low:g}"
        if high is not None:
            bound += f" and < {high:g}"
        raise ValueError(f"WaitPolicy.{name} must be a number {bound}, got {value!r}")
    return float(value)


@attrs.frozen
class WaitPolicy:
    """How often a wait looks and how long it lasts; defaults differ per kind (see below).

    A wait first looks after `interval` seconds, then each interval grows by `multiplier` up
    to `max_interval`, each spread by ±`jitter` (a fraction) so that clients started together
    drift apart. `timeout` is the overall deadline in seconds (`None` or `math.inf`: wait
    forever); passing it raises `WaitTimeoutError`, which carries the id to resume from.

    The intervals pace the client's *board*, not each waiter: however many waits are running,
    all watched objects of a kind are refreshed together at most once per interval.

    Defaults (`WaitPolicy.for_tunes()` / `WaitPolicy.for_prompts()`):

    * tunes: 15 s, x1.5, at most 60 s, timeout 2 h. Training takes minutes (Flux LoRA ~10-30
      min, see `eta`), so a minute of granularity costs a few percent of latency and one
      request a minute; FaceID/Gemini references come back trained and need no poll at all.
      A tune that says when to look is looked at sooner than `interval`: a second after its
      `eta`, or after 2 s for a `branch=fast` mock without one (`Tune.first_look`); the
      intervals then grow from there.
      Astria has no failure field for tunes: two hours without `trained_at` means stuck, not
      slow.
    * prompts: 2 s, x1.5, at most 10 s, timeout 15 min. An image prompt takes ~10 s to a
      minute; Astria's own tools poll every 1 s (Photopea) or 5 s (CLI). 2, 3, 4.5, 6.75, 10 s
      sees a 20 s prompt within ~5 s and costs 6 refreshes a minute after that; 15 minutes
      covers video prompts (the CLI gives up after 10).

    `WaitPolicy()` with no arguments is the prompt default.

    Raises:
        ValueError: a field is out of range; the message names the field.
    """

    __repr__ = fields_repr

    interval: float = PROMPT_WAIT_INTERVAL
    multiplier: float = WAIT_MULTIPLIER
    max_interval: float = PROMPT_WAIT_MAX_INTERVAL
    jitter: float = WAIT_JITTER
    timeout: float | None = PROMPT_WAIT_TIMEOUT

    def __attrs_post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place, as attrs' own __init__ does
        set_(self, "interval", _number("interval", self.interval, low=0, inclusive=False))
        set_(self, "multiplier", _number("multiplier", self.multiplier, low=1))
        set_(self, "max_interval", _number("max_interval", self.max_interval, low=0,
                                           inclusive=False))
        set_(self, "jitter", _number("jitter", self.jitter, low=0, high=1))
        if self.max_interval < self.interval:
            raise ValueError(f"WaitPolicy.max_interval must be >= interval ({self.interval:g}), "
                             f"got {self.max_interval!r}")
        if self.timeout is not None:
            timeout = _number("timeout", self.timeout, low=0, inclusive=False)
            set_(self, "timeout", None if math.isinf(timeout) else timeout)

    @classmethod
    def for_tunes(cls, **changes: Any) -> WaitPolicy:
        """The tune default (15 s, x1.5, 60 s, ±10 %, 2 h) with `changes` applied."""
        return attrs.evolve(TUNE_WAIT, **changes)

    @classmethod
    def for_prompts(cls, **changes: Any) -> WaitPolicy:
        """The prompt default (2 s, x1.5, 10 s, ±10 %, 15 min) with `changes` applied."""
        return attrs.evolve(PROMPT_WAIT, **changes)

    def next_interval(self, current: float) -> float:
        """The interval after `current`: grown by `multiplier`, capped at `max_interval`."""
        return min(self.max_interval, current * self.multiplier)

    def jittered(self, interval: float, rand: Callable[[], float] = random.random) -> float:
        """`interval` spread uniformly by ±`jitter`."""
        return interval * (1.0 + self.jitter * (2.0 * rand() - 1.0))

    def with_timeout(self, timeout: float | None) -> WaitPolicy:
        """This policy with another overall deadline (`None` keeps this one)."""
        return self if timeout is None else attrs.evolve(self, timeout=timeout)


TUNE_WAIT = WaitPolicy(interval=TUNE_WAIT_INTERVAL, max_interval=TUNE_WAIT_MAX_INTERVAL,
                       timeout=TUNE_WAIT_TIMEOUT)
PROMPT_WAIT = WaitPolicy()


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise ValueError(f"FairUsePolicy.{attribute.name} must be None or an integer >= 1, "
                         f"got {value!r}")


def _whole_number(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"FairUsePolicy.{attribute.name} must be an integer >= 0, "
                         f"got {value!r}")


def _optional_seconds(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not value > 0):
        raise ValueError(f"FairUsePolicy.{attribute.name} must be None or a number of seconds "
                         f"> 0, got {value!r}")


@attrs.frozen(kw_only=True)
class FairUsePolicy:
    """Astria's fair-use rules, checked by the client before it sends a prompt.

    Astria asks for about 14 prompts per fine-tune (8 images each) plus up to 7 automatic
    system prompts (API notes §15), so a tune gets at most `prompts_per_tune +
    automatic_prompts` = 21 prompts through this client. A prompt counts against the tunes it
    uses: the `<lora:ID:w>` / `<faceid:ID:w>` references in its text, else the tune it is
    posted to; shared gallery models and (with `exempt_fast`) free `branch="fast"` tunes the
    client has seen count against nothing.

    In flight means created (the create was sent) and not yet known to be finished. The client
    learns a prompt finished from a wait, `watch`, `as_completed`, a callback passed to
    `client.feed`, or, while a create waits for a place, from the board refreshing the
    in-flight prompts. A prompt whose end it never learns stops counting after the prompt
    wait timeout. Creates beyond `max_in_flight_per_tune` (per tune) or `max_in_flight` (in
    all) wait for a place instead of failing, at most `place_timeout` seconds (default: the
    prompt wait timeout), then raise `FairUseError`; `None` removes a bound. The client keeps
    refreshing the prompts that hold places (within the board's one request per tick), so a
    place frees when its prompt finishes even if nobody waits for it.

    Attributes:
        prompts_per_tune: prompts per tune you send (Astria: 14 on average).
        automatic_prompts: allowance for Astria's automatic prompts (Astria: up to 7).
        max_images: images per prompt (Astria: 8).
        max_in_flight_per_tune: unfinished prompts per tune at once (default 8: a normal
            headshot burst starts at once, a runaway loop cannot queue hundreds).
        max_in_flight: unfinished prompts through this client at once (default 64).
        exempt_fast: no caps for prompts on `branch="fast"` mock tunes (they are free).
        place_timeout: seconds a create waits for an in-flight place before it raises
            `FairUseError` (None: the prompt wait timeout, 15 min by default).
    """

    __repr__ = fields_repr

    prompts_per_tune: int = attrs.field(default=FAIR_USE_PROMPTS_PER_TUNE,
                                        validator=_whole_number)
    automatic_prompts: int = attrs.field(default=FAIR_USE_AUTOMATIC_PROMPTS,
                                         validator=_whole_number)
    max_images: int = attrs.field(default=FAIR_USE_MAX_IMAGES, validator=_whole_number)
    max_in_flight_per_tune: int | None = attrs.field(default=FAIR_USE_IN_FLIGHT_PER_TUNE,
                                                     validator=_optional_positive)
    max_in_flight: int | None = attrs.field(default=FAIR_USE_IN_FLIGHT,
                                            validator=_optional_positive)
    exempt_fast: bool = True
    place_timeout: float | None = attrs.field(default=None, validator=_optional_seconds)

    @property
    def tune_cap(self) -> int:
        """Prompts a tune may have through this client: 14 + 7 = 21 by default."""
        return self.prompts_per_tune + self.automatic_prompts
