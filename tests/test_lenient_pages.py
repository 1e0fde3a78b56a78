"""One unreadable object spoils neither a list page nor the waits on the other objects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _faketime import FakeTime
from _mocked import API, mocked_client
from aioresponses import aioresponses
from yarl import URL

from astria_async import AstriaClient, WaitPolicy, parse_callback

POLICY = WaitPolicy(interval=2, multiplier=1.0, max_interval=2, jitter=0.0, timeout=60)
BAD_FIELDS = {"created_at": "not a time", "num_images": "many"}


def prompt(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": i, "text": f"p{i}", "images": [f"https://cdn/{i}.jpg"], **extra}


@pytest.fixture
async def client(ft: FakeTime) -> AsyncIterator[AstriaClient]:
    async with mocked_client(ft, POLICY) as c:
        yield c


async def test_a_list_page_skips_what_cannot_be_an_object_and_keeps_bad_fields(
        mocked: aioresponses, client: AstriaClient, caplog: pytest.LogCaptureFixture) -> None:
    page = [prompt(9), prompt(8, **BAD_FIELDS), "garbage", {"text": "no id"}, prompt(5)]
    mocked.get(f"{API}/prompts", payload=page)
    got = await client.prompts.list()
    assert [p.id for p in got] == [9, 8, 5]
    assert got[1].created_at is None and got[1].num_images is None
    assert got[1].raw["num_images"] == "many" and got[1].text == "p8"
    skipped = [r for r in caplog.records if "skipped an unreadable prompt" in r.getMessage()]
    assert len(skipped) == 2 and all(r.levelno == logging.WARNING for r in skipped)


async def test_waits_on_many_prompts_survive_a_malformed_object_on_the_page(
        mocked: aioresponses, ft: FakeTime, client: AstriaClient) -> None:
    ids = [5, 4, 3, 2, 1]  # more than SINGLE_MAX: the board reads the list page
    page = [prompt(i, **(BAD_FIELDS if i == 3 else {})) for i in ids]
    mocked.get(f"{API}/prompts?before_id=6&limit=120", payload=page, repeat=True)
    tasks = [asyncio.ensure_future(client.prompts.wait_images(i)) for i in ids]
    await ft.advance(0.1)
    assert all(t.done() for t in tasks)
    assert [t.result().id for t in tasks] == ids
    assert len(mocked.requests[("GET", URL(f"{API}/prompts?before_id=6&limit=120"))]) == 1


async def test_a_bad_field_on_the_users_own_object_keeps_the_object(
        mocked: aioresponses, client: AstriaClient) -> None:
    mocked.get(f"{API}/tunes/7", payload={"id": 7, "title": "me", "eta": "soon-ish",
                                          "steps": {"x": 1}})
    tune = await client.tunes.get(7)
    assert (tune.id, tune.title, tune.eta, tune.steps) == (7, "me", None, None)
    assert tune.raw["eta"] == "soon-ish"


def test_a_callback_with_a_bad_field_still_reaches_its_wait() -> None:
    parsed_list = parse_callback('[{"id": 1, "images": 5}]')
    assert isinstance(parsed_list, list) and len(parsed_list) == 1
    parsed = parsed_list[0]
    assert parsed.id == 1 and parsed.images == ()
    assert parsed.raw["images"] == 5 and not parsed.is_finished
