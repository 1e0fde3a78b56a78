"""Waits through the real transport on aioresponses, with the clock and sleep injected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _faketime import FakeTime
from _mocked import API, gets, mocked_client
from aioresponses import aioresponses
from yarl import URL

from astria_async import (
    AstriaClient,
    PromptFailedError,
    RateLimitError,
    RetryPolicy,
    WaitPolicy,
    WaitTimeoutError,
)

POLICY = WaitPolicy(interval=2, multiplier=1.5, max_interval=10, jitter=0.0, timeout=30)


@pytest.fixture
async def client(ft: FakeTime) -> AsyncIterator[AstriaClient]:
    async with mocked_client(ft, POLICY) as c:
        yield c


async def test_pacing_follows_the_policy_on_the_injected_clock(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": []}, repeat=True)
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    # Looks at 0, then after 2, 3, 4.5, 6.75, 10 s: t = 0, 2, 5, 9.5, 16.25, 26.25.
    expected = {1.0: 1, 2.0: 2, 4.9: 2, 5.0: 3, 9.5: 4, 16.25: 5, 26.25: 6, 29.9: 6}
    for at, count in expected.items():
        await ft.advance(at - ft.now)
        assert gets(mocked, "/prompts/1") == count, at
    await ft.advance(0.1)
    error = task.exception()
    assert isinstance(error, WaitTimeoutError) and error.object_id == 1
    assert ft.now == 30.0  # no real time passed: everything ran on the fake clock


async def test_board_requests_are_not_retried_by_the_transport(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", status=500, payload={"error": "boom"})
    mocked.get(f"{API}/prompts/1", status=429, headers={"Retry-After": "20"},
               payload={"error": "slow down"})
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": [], "user_error": "NSFW"})
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    await ft.advance(0.5)
    assert gets(mocked, "/prompts/1") == 1  # the 500: no transport retry, next tick retries
    await ft.advance(1.5)
    assert gets(mocked, "/prompts/1") == 2  # the 429: a 20 s pause for every waiter
    await ft.advance(19.9)
    assert gets(mocked, "/prompts/1") == 2 and not task.done()
    await ft.advance(0.1)
    with pytest.raises(PromptFailedError) as caught:
        await task
    assert caught.value.prompt.user_error == "NSFW"


async def test_tune_waits_page_the_list_when_many(mocked: aioresponses, ft: FakeTime) -> None:
    def tune(i: int, trained: bool) -> dict[str, Any]:
        return {"id": i, "trained_at": "2026-01-01T00:00:00Z" if trained else None}

    page = f"{API}/tunes?before_id=11&limit=120"  # the walk starts above the newest watched id
    mocked.get(page, payload=[tune(i, False) for i in range(10, 0, -1)])
    mocked.get(page, payload=[tune(i, True) for i in range(10, 0, -1)])
    async with AstriaClient("k", base_url=API, clock=ft.clock, sleep=ft.sleep,
                            tune_wait=WaitPolicy.for_tunes(jitter=0)) as c:
        tasks = [asyncio.ensure_future(c.tunes.wait_trained(i)) for i in range(1, 11)]
        await ft.advance(14.9)
        assert not any(t.done() for t in tasks)
        await ft.advance(0.1)  # the tune policy looks again after 15 s
        assert all(t.result().is_trained for t in tasks)
    assert len(mocked.requests[("GET", URL(page))]) == 2


async def test_a_429_on_the_users_own_call_pauses_the_waits(mocked: aioresponses,
                                                           ft: FakeTime) -> None:
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": []}, repeat=True)
    mocked.get(f"{API}/tunes/5", status=429, headers={"Retry-After": "20"},
               payload={"error": "slow down"})
    async with AstriaClient("sd_key", base_url=API, prompt_wait=POLICY, clock=ft.clock,
                            sleep=ft.sleep, fair_use=None,
                            retry=RetryPolicy(max_retries=0)) as c:
        task = asyncio.ensure_future(c.prompts.wait_images(1))
        await ft.advance(0.5)
        assert gets(mocked, "/prompts/1") == 1
        with pytest.raises(RateLimitError):
            await c.tunes.get(5)  # Astria limits the account: the board must back off too
        await ft.advance(19.9)  # unpaced, the board would have looked at t = 2, 5, 9.5, 16.25
        assert gets(mocked, "/prompts/1") == 1 and not task.done()
        await ft.advance(0.2)
        assert gets(mocked, "/prompts/1") == 2
        task.cancel()
