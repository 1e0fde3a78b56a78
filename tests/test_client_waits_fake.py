"""Waits against FakeAstria: coalescing, deadlines, cancellation, 429 storms, failures, hooks."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from astria_async import (
    AstriaClient,
    ClientClosedError,
    ConfigurationError,
    Prompt,
    PromptFailedError,
    Tune,
    WaitPolicy,
    WaitTimeoutError,
)
from astria_async._config import PAGE_LIMIT, SINGLE_MAX
from astria_async.testing import FakeAstria

# Real time, but fast: the fake trains in 1 s and renders in 1 s; waits look every 0.1-0.3 s.
QUICK = WaitPolicy(interval=0.1, multiplier=1.5, max_interval=0.3, jitter=0.1, timeout=20)


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 1.0, "fast_train_seconds": 0.5, "prompt_seconds": 1.0}


@pytest.fixture
async def client(astria_fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url,
                            wait=QUICK) as c:
        yield c


def _prompts(fake: FakeAstria, tunes: int, per_tune: int) -> list[int]:
    made = [fake.add_tune(branch="flux1", model_type="lora") for _ in range(tunes)]
    return [fake.add_prompt(t["id"], "ohwx man")["id"] for t in made for _ in range(per_tune)]


async def test_500_prompt_waiters_over_5_tunes_page_the_list(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    ids = _prompts(astria_fake, 5, 100)
    astria_fake.clear_log()
    results = await asyncio.gather(*(client.prompts.wait_images(i) for i in ids))
    assert all(p.succeeded for p in results)
    board = client._prompt_board
    pages_per_tick = math.ceil(500 / PAGE_LIMIT)  # 5
    # Single GETs only in the last tick or two, when at most SINGLE_MAX prompts are still
    # watched (real time decides whether such a tick happens); never one per waiter.
    singles = astria_fake.count("GET", "/prompts/*")
    assert singles <= 2 * SINGLE_MAX
    # Pages of the account list, or of each tune's own list once that is cheaper.
    pages = astria_fake.count("GET", "/prompts") + astria_fake.count("GET", "/tunes/*/prompts")
    assert pages + singles == board.requests
    # At most 5 pages a tick; fewer once the oldest prompts finished and left the board.
    assert board.ticks <= board.requests <= pages_per_tick * board.ticks
    # ~1 s of rendering at 0.1 -> 0.3 s intervals: a handful of ticks, not 500 x ticks GETs.
    assert 3 <= board.ticks <= 12
    # Pages of one wave are read at once: one may still be in flight when the last waiter
    # returns; the refresher ends with it.
    for _ in range(200):
        if board._task is None:
            break
        await asyncio.sleep(0.01)
    assert board._task is None and board.watched == 0


async def test_500_tune_waiters_over_5_tunes_cost_one_request_per_tick(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    tunes = [astria_fake.add_tune(trained=False)["id"] for _ in range(5)]
    astria_fake.clear_log()
    waits = [client.tunes.wait_trained(t) for t in tunes for _ in range(100)]
    results = await asyncio.gather(*waits)
    assert all(t.is_trained for t in results)
    board = client._tune_board
    assert astria_fake.count("GET", "/tunes/*") == 0
    assert astria_fake.count("GET", "/tunes") == board.ticks == board.requests
    assert board.ticks <= 12


async def test_few_waiters_use_single_gets(astria_fake: FakeAstria,
                                           client: AstriaClient) -> None:
    ids = _prompts(astria_fake, 1, 2)
    astria_fake.clear_log()
    await asyncio.gather(*(client.prompts.wait_images(i) for i in ids))
    assert astria_fake.count("GET", "/prompts") == 0
    assert astria_fake.count("GET", "/prompts/*") == 2 * client._prompt_board.ticks


async def test_deadline_carries_last_state_and_resumes_from_the_id(
        astria_fake: FakeAstria, client: AstriaClient) -> None:
    tune_id = astria_fake.add_tune(trained=False)["id"]
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        await client.tunes.wait_trained(tune_id, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 0.8
    err = caught.value
    assert isinstance(err, TimeoutError)
    assert (err.kind, err.object_id) == ("tune", tune_id)
    assert isinstance(err.last, Tune) and err.last.trained_at is None
    resumed = await client.tunes.wait_trained(err.object_id)  # from the id alone
    assert resumed.is_trained and resumed.id == tune_id


async def test_cancelling_one_waiter_leaves_the_others(astria_fake: FakeAstria,
                                                       client: AstriaClient) -> None:
    ids = _prompts(astria_fake, 1, 20)
    tasks = [asyncio.ensure_future(client.prompts.wait_images(i)) for i in ids]
    await asyncio.sleep(0.25)
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert all(isinstance(r, Prompt) and r.succeeded for i, r in enumerate(results) if i != 3)


async def test_429_storm_pauses_every_waiter(astria_fake: FakeAstria,
                                             client: AstriaClient) -> None:
    ids = _prompts(astria_fake, 2, 25)
    astria_fake.fail("/prompts", 429, count=None, retry_after=0.5, method="GET")
    tasks = [asyncio.ensure_future(client.prompts.wait_images(i)) for i in ids]
    await asyncio.sleep(1.2)
    # 50 waiters, 1.2 s of storm with Retry-After 0.5: one request per pause, not 50 per tick.
    storm = astria_fake.count("GET", "/prompts")
    assert 2 <= storm <= 4
    assert not any(t.done() for t in tasks)
    astria_fake.clear_faults()
    results = await asyncio.gather(*tasks)
    assert all(p.succeeded for p in results)


async def test_failed_prompt_raises_with_the_prompt(astria_fake: FakeAstria,
                                                    client: AstriaClient) -> None:
    tune = astria_fake.add_tune(branch="sd15")
    prompt = await client.prompts.create(tune["id"], text="sks man FAIL")
    with pytest.raises(PromptFailedError) as caught:
        await prompt.wait_images()
    assert caught.value.prompt.id == prompt.id
    assert "Content policy" in (caught.value.prompt.user_error or "")


async def test_on_update_and_watch_report_progress(astria_fake: FakeAstria,
                                                   client: AstriaClient) -> None:
    tune_id = astria_fake.add_tune(trained=False)["id"]
    seen: list[Tune] = []
    tune = await client.tunes.wait_trained(tune_id, on_update=seen.append)
    assert seen[0].trained_at is None and seen[-1] == tune and tune.is_trained
    states = [t async for t in client.tunes.watch(astria_fake.add_tune(trained=False)["id"])]
    assert states[0].trained_at is None and states[-1].is_trained


async def test_model_methods_delegate_and_need_a_client(astria_fake: FakeAstria,
                                                        client: AstriaClient) -> None:
    tune = await client.tunes.get(astria_fake.add_tune(trained=False)["id"])
    assert (await tune.wait_trained()).is_trained
    unbound = Tune.from_dict(astria_fake.tune(tune.id))
    with pytest.raises(ConfigurationError, match="not bound to a client"):
        await unbound.wait_trained()


async def test_as_completed_and_wait_all(astria_fake: FakeAstria,
                                         client: AstriaClient) -> None:
    tune = astria_fake.add_tune(branch="sd15")
    good = [await client.prompts.create(tune["id"], text=f"sks man {i}") for i in range(3)]
    bad = await client.prompts.create(tune["id"], text="sks man FAIL")
    seen = [p async for p in client.as_completed([*good, bad.id])]
    assert sorted(p.id for p in seen) == sorted([*(p.id for p in good), bad.id])
    assert [p.is_failed for p in seen if p.id == bad.id] == [True]
    pending = astria_fake.add_tune(trained=False)["id"]
    trained = await client.tunes.get(pending)
    done = await client.wait_all([trained, *good])
    assert [x.id for x in done] == [pending, *(p.id for p in good)]
    with pytest.raises(PromptFailedError):
        await client.wait_all([*good, bad])
    mixed = await client.wait_all([good[0], bad], return_exceptions=True)
    assert isinstance(mixed[0], Prompt) and isinstance(mixed[1], PromptFailedError)


async def test_as_completed_deadline(astria_fake: FakeAstria, client: AstriaClient) -> None:
    ids = _prompts(astria_fake, 1, 3)
    with pytest.raises(WaitTimeoutError) as caught:
        async for _ in client.as_completed(ids, timeout=0.2):
            pass
    assert caught.value.object_id in ids and "2 more" in str(caught.value)


async def test_policies_per_client_and_per_call(astria_fake: FakeAstria) -> None:
    tune_wait = WaitPolicy.for_tunes(timeout=5)
    async with AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url, wait=QUICK,
                            tune_wait=tune_wait) as c:
        assert c.tune_wait == tune_wait and c.prompt_wait == QUICK
        untrained = astria_fake.add_tune(trained=False)["id"]
        prompt = astria_fake.add_prompt(untrained)["id"]
        with pytest.raises(WaitTimeoutError, match=r"within 0\.1 s"):  # the call's timeout
            await c.prompts.wait_images(prompt, timeout=0.1)
        custom = WaitPolicy(interval=0.05, max_interval=0.05, timeout=0.2)
        with pytest.raises(WaitTimeoutError, match=r"within 0\.2 s"):  # the call's policy
            await c.tunes.wait_trained(untrained, policy=custom)


async def test_close_stops_waits_and_leaves_no_task(astria_fake: FakeAstria) -> None:
    c = AstriaClient(api_key=astria_fake.api_key, base_url=astria_fake.url, wait=QUICK)
    before = asyncio.all_tasks()
    tune_id = astria_fake.add_tune(trained=False)["id"]
    tasks = [asyncio.ensure_future(c.tunes.wait_trained(tune_id)) for _ in range(3)]
    await asyncio.sleep(0.15)
    await c.aclose()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results)
    await asyncio.sleep(0)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert leftover <= {asyncio.current_task()}
