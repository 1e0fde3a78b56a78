"""The 429 pause: capped, named in deadline messages, one log line, callbacks still land."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from _faketime import FakeTime
from _mocked import API, gets, mocked_client
from aioresponses import aioresponses

from astria_async import (
    AstriaClient,
    Prompt,
    RateLimitError,
    RetryPolicy,
    WaitPolicy,
    WaitTimeoutError,
)
from astria_async.waiting.pause import LocalPause, pause_seconds

POLICY = WaitPolicy(interval=2, multiplier=1.0, max_interval=2, jitter=0.0, timeout=300)


def _429(retry_after: str | None = None, path: str = "/tunes/5/prompts") -> RateLimitError:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    return RateLimitError("slow down", status=429, headers=headers, method="POST", path=path)


@pytest.mark.parametrize(("header", "expected"), [
    ("10", 10.0), ("0", 0.0), ("99999", 60.0), ("inf", 60.0), ("Infinity", 60.0),
    ("nan", 60.0), ("-5", 60.0), ("soon", 60.0), ("", 60.0),
    ("Thu, 01 Jan 2015 00:00:00 GMT", 0.0),  # a date in the past: go on now
])
def test_retry_after_is_capped_and_garbage_is_the_cap(header: str, expected: float) -> None:
    assert pause_seconds(_429(header), cap=60, streak=1) == expected


def test_no_retry_after_doubles_up_to_the_cap() -> None:
    seconds = [pause_seconds(_429(), cap=60, streak=n) for n in range(1, 7)]
    assert seconds == [5, 10, 20, 40, 60, 60]
    parsed = RateLimitError("x", status=429, retry_after=7.0)  # built without headers
    assert pause_seconds(parsed, cap=60, streak=3) == 7.0


def test_local_pause_remembers_its_cause_and_never_shortens() -> None:
    now = [0.0]
    pause = LocalPause(lambda: now[0], cap=100)
    assert pause.cause() is None
    assert pause.rate_limited(_429("inf")) == 100
    assert pause.until() == 100 and pause.cause() == "POST /tunes/5/prompts"
    assert pause.rate_limited(_429("3", path="/prompts")) == 3
    assert pause.until() == 100 and pause.cause() == "POST /tunes/5/prompts"


@pytest.fixture
async def client(ft: FakeTime) -> AsyncIterator[AstriaClient]:
    async with mocked_client(ft, POLICY,
                             retry=RetryPolicy(max_retries=0, retry_after_cap=30)) as c:
        yield c


def _create_429(mocked: aioresponses, retry_after: str) -> None:
    mocked.post(f"{API}/tunes/5/prompts", status=429, headers={"Retry-After": retry_after},
                payload={"error": "slow down"})


@pytest.mark.parametrize("retry_after", ["100000", "inf", "garbage"])
async def test_a_huge_retry_after_on_a_create_pauses_waits_only_for_the_cap(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient, retry_after: str) -> None:
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": []}, repeat=True)
    _create_429(mocked, retry_after)
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    await ft.advance(0.5)
    with pytest.raises(RateLimitError):
        await client.prompts.create(5, text="ohwx man")
    looked = gets(mocked, "/prompts/1")
    await ft.advance(29.9)  # paused: 30 s (the cap) from t = 0.5
    assert gets(mocked, "/prompts/1") == looked and not task.done()
    await ft.advance(0.2)
    assert gets(mocked, "/prompts/1") == looked + 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_deadline_inside_a_pause_names_the_pause_and_its_request(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": []}, repeat=True)
    _create_429(mocked, "25")
    task = asyncio.ensure_future(client.prompts.wait_images(1, timeout=10))
    await ft.advance(0.5)
    with pytest.raises(RateLimitError):
        await client.prompts.create(5, text="ohwx man")
    await ft.advance(9.5)  # the deadline, 15.5 s before the pause ends
    with pytest.raises(WaitTimeoutError) as caught:
        await task
    message = str(caught.value)
    assert "paused for another 16 s by a 429 (rate limited) on POST /tunes/5/prompts" in message
    assert "last refresh failed" not in message


async def test_a_callback_during_a_pause_ends_its_wait_at_once(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": []}, repeat=True)
    _create_429(mocked, "25")
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    await ft.advance(0.5)
    with pytest.raises(RateLimitError):
        await client.prompts.create(5, text="ohwx man")
    await ft.advance(1.0)
    client.feed(Prompt.from_dict({"id": 1, "images": ["https://cdn/1.jpg"]}))
    await ft.settle()
    assert task.done() and task.result().images == ("https://cdn/1.jpg",)


async def test_one_429_logs_one_line_and_a_warning_only_when_waits_pause(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="astria_async")
    _create_429(mocked, "3")
    with pytest.raises(RateLimitError):
        await client.prompts.create(5, text="ohwx man")
    lines = [r for r in caplog.records if "429" in r.getMessage()]
    assert [r.levelno for r in lines if r.levelno >= logging.INFO] == [logging.INFO]  # request
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    caplog.clear()
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": []}, repeat=True)
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    await ft.advance(5)
    _create_429(mocked, "3")
    with pytest.raises(RateLimitError):
        await client.prompts.create(5, text="ohwx man")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["rate limited (429) on POST /tunes/5/prompts; every wait pauses 3.0 s"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
