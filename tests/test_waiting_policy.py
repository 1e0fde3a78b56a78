"""WaitPolicy: defaults per kind, validation, backoff and jitter."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from astria_async import WaitPolicy
from astria_async.waiting.policy import PROMPT_WAIT, TUNE_WAIT

# --- WaitPolicy ------------------------------------------------------------------------------


def test_policy_defaults_per_kind() -> None:
    assert WaitPolicy() == PROMPT_WAIT == WaitPolicy.for_prompts()
    assert WaitPolicy.for_tunes() == TUNE_WAIT
    assert (TUNE_WAIT.interval, TUNE_WAIT.max_interval, TUNE_WAIT.timeout) == (15, 60, 7200)
    assert (PROMPT_WAIT.interval, PROMPT_WAIT.max_interval, PROMPT_WAIT.timeout) == (2, 10, 900)
    assert WaitPolicy.for_tunes(timeout=60).timeout == 60
    # Positional order as documented.
    assert WaitPolicy(1, 2, 8, 0.2, 30) == WaitPolicy(interval=1, multiplier=2, max_interval=8,
                                                      jitter=0.2, timeout=30)


@pytest.mark.parametrize(("changes", "field"), [
    ({"interval": 0}, "interval"),
    ({"interval": -1}, "interval"),
    ({"interval": math.nan}, "interval"),
    ({"interval": True}, "interval"),
    ({"multiplier": 0.5}, "multiplier"),
    ({"max_interval": 1.0}, "max_interval"),
    ({"jitter": 1.0}, "jitter"),
    ({"jitter": -0.1}, "jitter"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": "60"}, "timeout"),
])
def test_policy_validation_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"WaitPolicy\.{field} "):
        attrs.evolve(WaitPolicy(), **changes)


def test_policy_infinite_timeout_means_forever() -> None:
    assert WaitPolicy(timeout=math.inf).timeout is None
    assert WaitPolicy(timeout=None).timeout is None
    assert WaitPolicy().with_timeout(None) == WaitPolicy()
    assert WaitPolicy().with_timeout(5).timeout == 5


def test_policy_backoff_and_jitter() -> None:
    p = WaitPolicy(interval=2, multiplier=1.5, max_interval=10, jitter=0.1)
    seq = [2.0]
    for _ in range(6):
        seq.append(p.next_interval(seq[-1]))
    assert seq == [2.0, 3.0, 4.5, 6.75, 10.0, 10.0, 10.0]
    assert p.jittered(10, lambda: 0.0) == pytest.approx(9.0)
    assert p.jittered(10, lambda: 1.0) == pytest.approx(11.0)
    assert p.jittered(10, lambda: 0.5) == pytest.approx(10.0)


@given(st.floats(0.01, 100), st.floats(0, 0.99), st.floats(0, 1))
def test_jitter_stays_in_band(interval: float, jitter: float, r: float) -> None:
    p = WaitPolicy(interval=interval, max_interval=max(interval, 100), jitter=jitter)
    value = p.jittered(interval, lambda: r)
    assert interval * (1 - jitter) - 1e-9 <= value <= interval * (1 + jitter) + 1e-9
