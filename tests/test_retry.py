"""The retry policy as a table: which outcomes are retried for which methods, and how long."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from astria_async import RetryPolicy
from astria_async._retry import (
    Outcome,
    backoff,
    classify_status,
    fits_deadline,
    parse_retry_after,
    should_retry,
)

POLICY = RetryPolicy()
Oc = Outcome

# (method, outcome, idempotent, retried?)
TABLE = [
    ("GET", Oc.CONNECT_ERROR, False, True),
    ("GET", Oc.SENT_ERROR, False, True),
    ("GET", Oc.TIMEOUT, False, True),
    ("GET", Oc.RATE_LIMITED, False, True),
    ("GET", Oc.SERVER_ERROR, False, True),
    ("GET", Oc.GATEWAY_TIMEOUT, False, True),
    ("GET", Oc.CLIENT_ERROR, False, False),
    ("DELETE", Oc.SERVER_ERROR, False, True),
    ("DELETE", Oc.CLIENT_ERROR, False, False),
    ("POST", Oc.CONNECT_ERROR, False, True),
    ("POST", Oc.RATE_LIMITED, False, True),
    ("POST", Oc.SENT_ERROR, False, False),
    ("POST", Oc.TIMEOUT, False, False),
    ("POST", Oc.SERVER_ERROR, False, False),
    ("POST", Oc.GATEWAY_TIMEOUT, False, False),
    ("POST", Oc.CLIENT_ERROR, False, False),
    ("POST", Oc.SENT_ERROR, True, True),
    ("POST", Oc.TIMEOUT, True, True),
    ("POST", Oc.SERVER_ERROR, True, True),
    ("POST", Oc.GATEWAY_TIMEOUT, True, True),
    ("POST", Oc.CLIENT_ERROR, True, False),
]


@pytest.mark.parametrize(("method", "outcome", "idempotent", "expected"), TABLE)
def test_should_retry_table(method: str, outcome: Outcome, idempotent: bool,
                            expected: bool) -> None:
    assert should_retry(method, outcome, 0, POLICY, idempotent=idempotent) is expected


def test_retry_budget_is_finite() -> None:
    policy = RetryPolicy(max_retries=2)
    assert should_retry("GET", Oc.SERVER_ERROR, 1, policy)
    assert not should_retry("GET", Oc.SERVER_ERROR, 2, policy)
    assert not should_retry("GET", Oc.SERVER_ERROR, 0, RetryPolicy(max_retries=0))


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Oc.OK), (201, Oc.OK), (204, Oc.OK), (400, Oc.CLIENT_ERROR), (401, Oc.CLIENT_ERROR),
    (404, Oc.CLIENT_ERROR), (422, Oc.CLIENT_ERROR), (429, Oc.RATE_LIMITED),
    (500, Oc.SERVER_ERROR), (502, Oc.SERVER_ERROR), (503, Oc.SERVER_ERROR),
    (504, Oc.GATEWAY_TIMEOUT),
])
def test_classify_status(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    assert backoff(0, Oc.TIMEOUT, policy, rand=lambda: 1.0) == 1.0
    assert backoff(2, Oc.TIMEOUT, policy, rand=lambda: 1.0) == 4.0
    assert backoff(10, Oc.TIMEOUT, policy, rand=lambda: 1.0) == 8.0
    assert backoff(3, Oc.TIMEOUT, policy, rand=lambda: 0.0) == 0.0
    assert backoff(1, Oc.TIMEOUT, policy, rand=lambda: 0.5) == 1.0


def test_server_errors_use_their_own_base() -> None:
    policy = RetryPolicy(backoff_base=0.5, server_error_base=30.0, backoff_max=100.0)
    assert backoff(0, Oc.SERVER_ERROR, policy, rand=lambda: 1.0) == 30.0
    assert backoff(0, Oc.CONNECT_ERROR, policy, rand=lambda: 1.0) == 0.5


def test_retry_after_wins_over_backoff() -> None:
    assert backoff(0, Oc.RATE_LIMITED, POLICY, retry_after=7.0, rand=lambda: 1.0) == 7.0


def test_gateway_timeout_on_idempotent_create_waits_as_astria_advises() -> None:
    assert backoff(0, Oc.GATEWAY_TIMEOUT, POLICY, idempotent_create=True) == 60.0
    custom = RetryPolicy(gateway_timeout_wait=90.0)
    assert backoff(0, Oc.GATEWAY_TIMEOUT, custom, idempotent_create=True) == 90.0


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("header", "seconds"), [
    ("5", 5.0),
    ("0", 0.0),
    ("1.5", 1.5),
    (" 12 ", 12.0),
    (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
    (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
    ("-3", 0.0),
    (None, None),
    ("", None),
    ("soon", None),
    ("nan", None),
])
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_deadline_gives_up_early_rather_than_oversleeping() -> None:
    assert fits_deadline(1.0, None)
    assert fits_deadline(1.0, 2.0)
    assert not fits_deadline(3.0, 2.0)


@pytest.mark.parametrize("kwargs", [{"max_retries": -1}, {"backoff_base": -0.1},
                                    {"retry_after_cap": -1.0}])
def test_policy_refuses_negative_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
