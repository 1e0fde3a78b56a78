"""Tune waits look when the tune says: a second after `eta`, soon for fast mocks, never for
references that come back trained; still one request per tick for every watched tune."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from astria_async import AstriaClient, Tune, WaitPolicy
from astria_async.testing import FakeAstria

NOW = 1_800_000_000.0


def _tune(**fields: Any) -> Tune:
    return Tune.from_dict({"id": 1, **fields})


def _at(seconds: float) -> str:
    return datetime.fromtimestamp(NOW + seconds, tz=timezone.utc).isoformat()


def test_first_look_follows_what_the_tune_says() -> None:
    assert _tune(eta=_at(30)).first_look(NOW) == 31.0  # a second after the eta
    assert _tune(eta=_at(-600)).first_look(NOW) == 1.0  # overdue: look soon
    assert _tune(branch="fast").first_look(NOW) == 2.0
    assert _tune(branch="fast", eta=_at(10)).first_look(NOW) == 11.0  # the eta wins
    assert _tune(branch="sd15").first_look(NOW) is None  # the policy's interval
    assert _tune(eta=_at(5), trained_at=_at(0)).first_look(NOW) is None


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 60.0, "fast_train_seconds": 1.0}


async def test_a_fast_tune_is_seen_trained_soon_after_its_eta(astria_fake: FakeAstria) -> None:
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url) as client:
        tune = await client.tunes.create(title="t", name="man", branch="fast",
                                         image_urls=["https://x.test/a.jpg"])
        assert not tune.is_trained and tune.eta is not None
        started = time.monotonic()
        # The default tune policy looks first after 15 s; the eta (1 s away) says sooner.
        trained = await tune.wait_trained(timeout=10)
        assert trained.is_trained and time.monotonic() - started < 5
    assert astria_fake.count("GET", "/tunes/*") <= 2


async def test_a_wait_from_an_id_takes_the_eta_from_its_first_look(
        astria_fake: FakeAstria) -> None:
    tune_id = astria_fake.add_tune(branch="fast", trained=False)["id"]
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url) as client:
        trained = await client.tunes.wait_trained(tune_id, timeout=10)
    assert trained.is_trained and astria_fake.count("GET", "/tunes/*") <= 3


async def test_references_that_come_back_trained_need_no_poll(astria_fake: FakeAstria) -> None:
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url) as client:
        ref = await client.tunes.create(title="me", name="man", model_type="faceid",
                                        base_tune_id=1504944,
                                        image_urls=["https://x.test/a.jpg"])
        assert ref.is_trained
        assert (await ref.wait_trained()).id == ref.id
        await client.wait_all([ref])
    assert astria_fake.count("GET", "*") == 0


async def test_eta_looks_of_many_tunes_share_one_request_per_tick(
        astria_fake: FakeAstria) -> None:
    ids = [astria_fake.add_tune(branch="fast", trained=False)["id"] for _ in range(6)]
    slow = astria_fake.add_tune(branch="sd15", trained=False)["id"]  # 60 s: never done here
    quick = WaitPolicy.for_tunes(timeout=8)
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url,
                            tune_wait=quick) as client:
        tunes = [await client.tunes.get(i) for i in ids]
        astria_fake.clear_log()
        board = client._tune_board
        waits = [asyncio.ensure_future(t.wait_trained()) for t in tunes]
        other = asyncio.ensure_future(client.tunes.wait_trained(slow))
        done = await asyncio.gather(*waits)
        assert all(t.is_trained for t in done)
        other.cancel()
        await asyncio.gather(other, return_exceptions=True)
    assert board.requests == astria_fake.count("GET", "/tunes*")
    assert board.requests <= 2 * board.ticks  # a list page (+ a single GET at most) a tick
    assert board.ticks <= 4
