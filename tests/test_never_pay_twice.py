"""A create that timed out after Astria committed it is never re-sent (API notes §13)."""

from __future__ import annotations

import pytest

from astria_async import AstriaClient, RetryPolicy, errors
from astria_async.testing import FakeAstria, FakeClock

POSTS = "/tunes/*/prompts"


async def test_a_create_timing_out_after_the_commit_is_not_resent(fake: FakeAstria) -> None:
    tune = int(fake.add_tune(branch="sd15")["id"])
    fake.slow("/tunes/", 1.0, method="POST", after_commit=True)
    async with AstriaClient(api_key=fake.api_key, base_url=fake.url, timeout=0.2,
                            retry=RetryPolicy(max_retries=5)) as client:
        with pytest.raises(errors.APITimeoutError, match="may still have processed it"):
            await client.prompts.create(tune, text="sks man")
        assert client.fair_use.count(tune) == 1  # it exists, so it counts
    assert fake.count("POST", POSTS) == 1  # sent once, despite five retries allowed
    assert len([p for p in fake.store.prompts.values() if p.tune_id == tune]) == 1


async def test_a_timed_out_create_is_resent_only_when_idempotent() -> None:
    # Idempotency on in the Astria account (API notes §14): a replay creates nothing.
    async with FakeAstria(clock=FakeClock.manual(), idempotent=True) as fake:
        await _resend_dedupes(fake)
        assert fake.errors == []


async def _resend_dedupes(fake: FakeAstria) -> None:
    tune = int(fake.add_tune(branch="sd15")["id"])
    fake.slow("/tunes/", 1.0, method="POST", after_commit=True)
    async with AstriaClient(api_key=fake.api_key, base_url=fake.url, timeout=0.2,
                            idempotent=True,
                            retry=RetryPolicy(backoff_base=0.0)) as client:
        prompt = await client.prompts.create(tune, text="sks man")
    assert fake.count("POST", POSTS) == 2  # re-sent, and the account deduplicated it
    stored = [p for p in fake.store.prompts.values() if p.tune_id == tune]
    assert [p.id for p in stored] == [prompt.id]  # one prompt, paid once
