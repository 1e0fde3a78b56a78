"""A prompt that ends without images (trained_at, no images, no user_error) fails after a grace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from _faketime import FakeTime
from _mocked import API, mocked_client
from aioresponses import aioresponses

from astria_async import AstriaClient, Prompt, PromptFailedError, WaitPolicy
from astria_async._config import PROMPT_IMAGELESS_GRACE
from astria_async.models import imageless_failure

POLICY = WaitPolicy(interval=2, multiplier=1.0, max_interval=2, jitter=0.0, timeout=900)
DONE = "2026-01-01T00:00:00Z"
EMPTY = {"id": 1, "trained_at": DONE, "images": [], "user_error": None}
IMAGES = {"id": 1, "trained_at": DONE, "images": ["https://cdn/1.jpg"]}


@pytest.fixture
async def client(ft: FakeTime) -> AsyncIterator[AstriaClient]:
    async with mocked_client(ft, POLICY) as c:
        yield c


def test_the_rule_is_trained_without_images_or_error() -> None:
    assert imageless_failure(Prompt.from_dict({"id": 1, "images": []})) is None  # running
    assert imageless_failure(Prompt.from_dict(IMAGES)) is None
    assert imageless_failure(Prompt.from_dict({**EMPTY, "user_error": "NSFW"})) is None
    unreadable = Prompt.from_dict({**EMPTY, "images": {"not": "a url"}})
    assert unreadable.images == () and imageless_failure(unreadable) is None
    failed = imageless_failure(Prompt.from_dict(EMPTY))
    assert failed is not None and failed.is_failed and failed.is_finished
    assert "finished without images" in str(failed.user_error)
    assert failed.raw["user_error"] is None  # what Astria sent stays apart


async def test_a_prompt_ending_without_images_fails_after_the_grace(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", payload=EMPTY, repeat=True)
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    await ft.advance(PROMPT_IMAGELESS_GRACE + 0.9)  # first seen at 0; looks at 2, 4 (< 5 s)
    assert not task.done()
    await ft.advance(0.2)  # the look at 6 s: still no images, past the grace
    with pytest.raises(PromptFailedError, match="finished without images") as caught:
        await task
    assert caught.value.prompt.id == 1 and caught.value.prompt.images == ()


async def test_images_attached_a_moment_after_trained_at_succeed(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", payload=EMPTY)
    mocked.get(f"{API}/prompts/1", payload=IMAGES, repeat=True)
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    await ft.advance(2.1)
    assert task.result().images == ("https://cdn/1.jpg",)


async def test_an_image_less_callback_is_a_heartbeat(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", payload={"id": 1, "images": []})
    mocked.get(f"{API}/prompts/1", payload=IMAGES, repeat=True)
    task = asyncio.ensure_future(client.prompts.wait_images(1))
    await ft.advance(0.5)
    client.feed(Prompt.from_dict(EMPTY))  # a callback without images does not end the wait
    await ft.settle()
    assert not task.done()
    await ft.advance(1.6)
    assert task.result().succeeded


async def test_as_completed_yields_the_image_less_prompt_as_failed(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    mocked.get(f"{API}/prompts/1", payload=EMPTY, repeat=True)

    async def collect() -> list[Prompt]:
        return [p async for p in client.as_completed([1])]

    task = asyncio.ensure_future(collect())
    await ft.advance(6.1)
    [prompt] = task.result()
    assert prompt.is_failed and not prompt.succeeded


async def test_image_less_prompts_seen_on_list_pages_fail_after_the_grace(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    # More than 3 waits read list pages; the unchanged item must still count toward the grace
    # (the board skips building models for unchanged items, but not for these).
    items = [{**EMPTY, "id": i} for i in range(5, 0, -1)]
    mocked.get(f"{API}/prompts?before_id=6&limit=120", payload=items, repeat=True)
    tasks = [asyncio.ensure_future(client.prompts.wait_images(i)) for i in range(1, 6)]
    await ft.advance(PROMPT_IMAGELESS_GRACE + 0.9)
    assert not any(t.done() for t in tasks)
    await ft.advance(0.2)
    assert all(t.done() for t in tasks)
    for task in tasks:
        with pytest.raises(PromptFailedError, match="finished without images"):
            await task
