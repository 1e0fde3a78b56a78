"""BatchRunner as a library, against FakeAstria in the test's own loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from astria_async import AstriaClient, WaitPolicy
from astria_async.batch import (
    BatchBudgetError,
    BatchEvent,
    BatchRunner,
    PriceTable,
    job_from_spec,
    parse_jobs,
)
from astria_async.batch._journal import Mark
from astria_async.batch._state import SqliteJournal
from astria_async.testing import FakeAstria

QUICK = WaitPolicy(interval=0.05, max_interval=0.2, timeout=30)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAstria]:
    async with FakeAstria(fast_train_seconds=0.1, prompt_seconds=0.2) as running:
        yield running


def client_for(fake: FakeAstria) -> AstriaClient:
    return AstriaClient(fake.api_key, base_url=fake.url, prompt_wait=QUICK)


def jobs_for(tune_id: int, *texts: str, **extra: object) -> list[str]:
    return [json.dumps({"tune_id": tune_id, "text": t, **extra}) for t in texts]


def prompt_posts(fake: FakeAstria) -> int:
    return fake.count("POST", "/tunes/*/prompts")


async def test_run_waits_downloads_and_reruns_for_free(fake: FakeAstria, tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")
    jobs = parse_jobs(jobs_for(tune["id"], "ohwx a", "ohwx b", "ohwx FAIL", num_images=2))
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        runner = BatchRunner(client, tmp_path / "s.db", tmp_path / "out", 2,
                             on_event=events.append)
        summary = await runner.run(jobs)
        assert summary.counts == {"done": 2, "failed": 1} and not summary.ok
        assert summary.images == 4 and summary.cost_mc == 0
        [failed] = summary.failed
        assert failed.key == jobs[2].key and "Content policy" in (failed.error or "")
        for job in jobs[:2]:
            assert len(list((tmp_path / "out" / job.dirname).glob("*.png"))) == 2
        kinds = [e.kind for e in events]
        assert kinds.count("created") == 3 and kinds.count("downloaded") == 2
        again = await runner.run(jobs)
    assert again.counts == summary.counts
    assert prompt_posts(fake) == 3  # nothing re-sent, the failed prompt included


async def test_max_cost_stops_in_file_order(fake: FakeAstria, tmp_path: Path) -> None:
    tune = fake.add_tune(branch="sd15")
    jobs = parse_jobs(jobs_for(tune["id"], *(f"sks man {i}" for i in range(5)), num_images=1))
    async with client_for(fake) as client:
        runner = BatchRunner(client, tmp_path / "s.db", None, 3, max_cost=7_000)
        plan = await runner.plan(jobs)
        assert (plan.estimated_mc, plan.fits) == (15_000, 2)
        with pytest.raises(BatchBudgetError, match="max-cost 7,000 mc") as info:
            await runner.run(jobs)
        assert info.value.summary.counts == {"done": 2, "pending": 3}
        assert [j.status for j in info.value.summary.jobs][:2] == ["done", "done"]
        assert prompt_posts(fake) == 2
        # The budget covers the whole journal: a higher cap sends only what is left.
        runner.max_cost = 12_000
        with pytest.raises(BatchBudgetError):
            await runner.run(jobs)
        assert prompt_posts(fake) == 4
        runner.max_cost = None
        assert (await runner.run(jobs)).ok
    assert prompt_posts(fake) == 5


async def test_price_table_and_fast_tunes_in_the_plan(fake: FakeAstria, tmp_path: Path) -> None:
    fast = fake.add_tune(branch="fast")
    paid = fake.add_tune(branch="sd15")
    jobs = parse_jobs([*jobs_for(fast["id"], "a", "b"), *jobs_for(paid["id"], "c"),
                       *jobs_for(paid["id"], "d", num_images=3)])
    table = PriceTable(per_image_mc=1_000, per_prompt_mc=100)
    async with client_for(fake) as client:
        plan = await BatchRunner(client, tmp_path / "s.db", price_table=table).plan(jobs)
    assert plan.estimated_mc == (100 + 4 * 1_000) + (100 + 3 * 1_000)
    offline = await BatchRunner(None, tmp_path / "s.db", price_table=table).plan(jobs)
    assert offline.estimated_mc == 2 * 4_100 + plan.estimated_mc  # fast tunes not known
    assert fake.count("POST", "*") == 0


async def test_recovers_creates_journaled_before_a_crash(fake: FakeAstria,
                                                         tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")
    landed, lost = parse_jobs(jobs_for(tune["id"], "landed", "lost", num_images=1))
    twin_a, twin_b = parse_jobs([json.dumps({"tune_id": tune["id"], "text": "twin",
                                             "num_images": 1, "key": k}) for k in "ab"])
    journal = SqliteJournal(tmp_path / "s.db")
    await journal.claim()
    await journal.add([landed, lost, twin_a, twin_b])
    await journal.creating([Mark(job.key, 0) for job in (landed, lost, twin_a, twin_b)])
    await journal.close()
    await asyncio.sleep(0.01)
    # The crashed run's creates of "landed" and of one "twin" reached the server.
    on_server = fake.add_prompt(tune["id"], "landed", num_images=1)["id"]
    twin_id = fake.add_prompt(tune["id"], "twin", num_images=1)["id"]
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        runner = BatchRunner(client, tmp_path / "s.db", tmp_path / "out", settle=0,
                             on_event=events.append)
        summary = await runner.run([landed, lost, twin_a, twin_b])
    assert summary.ok
    ids = {j.key: j.prompt_id for j in summary.jobs}
    assert ids[landed.key] == on_server and ids[twin_a.key] == twin_id
    assert ids[twin_b.key] not in (None, twin_id)
    assert prompt_posts(fake) == 2  # "lost" and the second twin, once each
    assert sorted(e.kind for e in events if e.kind in ("recovered", "resend")) == [
        "recovered", "recovered", "resend", "resend"]


async def test_fair_use_refusals_are_failed_and_retried_only_when_asked(
        fake: FakeAstria, tmp_path: Path) -> None:
    from astria_async import FairUsePolicy

    tune = fake.add_tune(branch="sd15")
    jobs = parse_jobs(jobs_for(tune["id"], "sks 1", "sks 2", "sks 3", num_images=1))
    policy = FairUsePolicy(prompts_per_tune=2, automatic_prompts=0)
    async with AstriaClient(fake.api_key, base_url=fake.url, prompt_wait=QUICK,
                            fair_use=policy) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", concurrency=1).run(jobs)
    assert summary.counts == {"done": 2, "failed": 1}
    [refused] = summary.failed
    assert refused.error and "fair" in refused.error.lower() and refused.cost_mc == 0
    assert prompt_posts(fake) == 2
    # A resume leaves the refused job alone, even with a client that would send it.
    async with client_for(fake) as client:
        again = await BatchRunner(client, tmp_path / "s.db").run(jobs)
    assert again.counts == {"done": 2, "failed": 1} and prompt_posts(fake) == 2
    # With the strict policy, a retry starts the count from the server: refused again.
    async with AstriaClient(fake.api_key, base_url=fake.url, prompt_wait=QUICK,
                            fair_use=policy) as client:
        retried = await BatchRunner(client, tmp_path / "s.db", retry_failed=True).run(jobs)
    assert retried.counts == {"done": 2, "failed": 1} and prompt_posts(fake) == 2
    async with client_for(fake) as client:  # the default policy lets it through
        assert (await BatchRunner(client, tmp_path / "s.db", retry_failed=True).run(jobs)).ok
    assert prompt_posts(fake) == 3


async def test_server_refusals_are_failed_with_the_reason(fake: FakeAstria,
                                                          tmp_path: Path) -> None:
    job = job_from_spec({"tune_id": 99999, "text": "no such tune"}, line=1)
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db").run([job])
    [result] = summary.jobs
    assert result.status == "failed" and "404" in (result.error or "")
    assert result.cost_mc == 0
