"""Retry policy as pure functions: what to retry, how long to wait, and Retry-After parsing."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import attrs

from ._fields_repr import fields_repr
from .errors import APIConnectionError, APITimeoutError

# Methods whose effect does not depend on how often they are sent (API notes §13: reads and
# deletes are safe to repeat; a POST create may cost money twice).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "PATCH"})


class Outcome(enum.Enum):
    """What happened to one attempt, as far as retrying cares."""

    CONNECT_ERROR = "connect_error"  # nothing reached the server
    SENT_ERROR = "sent_error"  # connection dropped after the request was (maybe) sent
    TIMEOUT = "timeout"
    RATE_LIMITED = "429"
    SERVER_ERROR = "5xx"  # 500, 502, 503
    GATEWAY_TIMEOUT = "504"
    CLIENT_ERROR = "4xx"
    OK = "ok"


def _non_negative_seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the client retries failed requests.

    Reads (GET, DELETE, PATCH) are retried on connection errors, timeouts, 429 and 5xx. Creates
    (POST) are re-sent only when nothing reached the server or the server refused with 429, unless
    `idempotent=True` is set on the client (Astria account idempotency on, API notes §14).

    Attributes:
        max_retries: retries after the first attempt (so at most ``max_retries + 1`` requests).
        backoff_base: first backoff step in seconds; attempt n waits uniform(0, base * 2**n)
            ("full jitter", which spreads the synchronised retries of many coalesced waiters).
        backoff_max: cap on one backoff step.
        server_error_base: backoff base after a 5xx. Astria suggests a 30 s first wait after a
            500 (API notes §13). We default to 2 s: a library cannot know whether its caller is a
            web request with a 30 s budget or a batch job, a 30 s stall by default turns every
            transient 500 into a user-visible hang, and full jitter plus `max_retries` already keeps
            the load on Astria low. Batch jobs that want Astria's advice set it to 30.
        retry_after_cap: longest Retry-After the client will sleep for; a longer one raises
            `RateLimitError` with `retry_after` set instead of blocking for minutes.
        gateway_timeout_wait: wait before re-sending a create after a 504 when idempotency is on;
            Astria advises 60 s so the original request can finish (API notes §13, §14).
    """

    __repr__ = fields_repr

    max_retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative_seconds)
    backoff_max: float = attrs.field(default=20.0, validator=_non_negative_seconds)
    server_error_base: float = attrs.field(default=2.0, validator=_non_negative_seconds)
    retry_after_cap: float = attrs.field(default=120.0, validator=_non_negative_seconds)
    gateway_timeout_wait: float = attrs.field(default=60.0, validator=_non_negative_seconds)


def classify_status(status: int) -> Outcome:
    """Map an HTTP status to an `Outcome`."""
    if status < 400:
        return Outcome.OK
    if status == 429:
        return Outcome.RATE_LIMITED
    if status == 504:
        return Outcome.GATEWAY_TIMEOUT
    if status >= 500:
        return Outcome.SERVER_ERROR
    return Outcome.CLIENT_ERROR


def classify_error(exc: APIConnectionError) -> Outcome:
    """Map a transport failure to an `Outcome`."""
    if not exc.sent:
        return Outcome.CONNECT_ERROR
    if isinstance(exc, APITimeoutError):
        return Outcome.TIMEOUT
    return Outcome.SENT_ERROR


def should_retry(method: str, outcome: Outcome, attempt: int, policy: RetryPolicy, *,
                 idempotent: bool = False, max_retries: int | None = None) -> bool:
    """Whether attempt number `attempt` (0-based) that ended in `outcome` may be sent again.

    `max_retries` overrides the policy's (the board asks for 0: its next tick is the retry).
    """
    limit = policy.max_retries if max_retries is None else max_retries
    if attempt >= limit or outcome in (Outcome.OK, Outcome.CLIENT_ERROR):
        return False
    if method.upper() in SAFE_METHODS or idempotent:
        return True
    # A create: only when Astria certainly did not act on it (API notes §13: a 504 was
    # "probably processed", and a 5xx, timeout or reset after sending may have been too).
    return outcome in (Outcome.CONNECT_ERROR, Outcome.RATE_LIMITED)


def backoff(attempt: int, outcome: Outcome, policy: RetryPolicy, *,
            retry_after: float | None = None, idempotent_create: bool = False,
            rand: Callable[[], float] = random.random) -> float:
    """Seconds to sleep before the retry that follows attempt `attempt` (0-based)."""
    if retry_after is not None and outcome in (Outcome.RATE_LIMITED, Outcome.SERVER_ERROR,
                                               Outcome.GATEWAY_TIMEOUT):
        return retry_after
    if outcome is Outcome.GATEWAY_TIMEOUT and idempotent_create:
        return policy.gateway_timeout_wait
    base = policy.backoff_base
    if outcome in (Outcome.SERVER_ERROR, Outcome.GATEWAY_TIMEOUT):
        base = policy.server_error_base
    return rand() * min(policy.backoff_max, base * 2.0**attempt)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def fits_deadline(delay: float, remaining: float | None) -> bool:
    """False when sleeping `delay` would pass the caller's deadline: give up early instead."""
    return remaining is None or delay < remaining


def next_delay(method: str, outcome: Outcome, attempt: int, policy: RetryPolicy, *,
               idempotent: bool = False, retry_after: float | None = None,
               remaining: float | None = None, replayable: bool = True,
               max_retries: int | None = None) -> float | None:
    """Seconds to sleep before re-sending attempt `attempt`, or None to give up and raise.

    Gives up when the body cannot be sent again (a caller's unseekable file), when
    `should_retry` says no, when the server asks for a longer wait than
    `policy.retry_after_cap`, or when the sleep would pass the caller's deadline (`remaining`
    seconds away; None: no deadline).
    """
    if not replayable:
        return None
    if not should_retry(method, outcome, attempt, policy, idempotent=idempotent,
                        max_retries=max_retries):
        return None
    if retry_after is not None and retry_after > policy.retry_after_cap:
        return None
    delay = backoff(attempt, outcome, policy, retry_after=retry_after,
                    idempotent_create=idempotent)
    return delay if fits_deadline(delay, remaining) else None
