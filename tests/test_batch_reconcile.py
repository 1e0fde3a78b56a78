"""Job identity across edits, unanswered creates reconciled in the same run, lookups."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from test_batch_run import QUICK, client_for

from astria_async.batch import BatchEvent, BatchRunner, Mark, SqliteJournal, parse_jobs
from astria_async.testing import FakeAstria


@pytest.fixture
async def fake() -> AsyncIterator[FakeAstria]:
    async with FakeAstria(fast_train_seconds=0.1, prompt_seconds=0.1) as running:
        yield running


def lines(tune_id: int, *texts: str) -> list[str]:
    return [json.dumps({"tune_id": tune_id, "text": t, "num_images": 1}) for t in texts]


def posts(fake: FakeAstria) -> int:
    return fake.count("POST", "/tunes/*/prompts")


async def test_editing_the_job_file_does_not_create_finished_jobs_again(
        fake: FakeAstria, tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    first = lines(tune, "ohwx a", "ohwx b", "ohwx c")
    async with client_for(fake) as client:
        runner = BatchRunner(client, tmp_path / "s.db", tmp_path / "out")
        assert (await runner.run(parse_jobs(first))).ok
        # A blank line and a new job on top, the old ones reordered.
        edited = ["", *lines(tune, "ohwx new"), first[2], first[0], first[1]]
        summary = await runner.run(parse_jobs(edited))
    assert summary.ok and summary.counts == {"done": 4}
    assert posts(fake) == 4
    assert all(j.directory is not None and j.directory.is_dir() for j in summary.jobs)
    # A folder that is gone is not reported (and a done job is not downloaded again).
    shutil.rmtree(summary.jobs[0].directory or "")
    async with client_for(fake) as client:
        again = await BatchRunner(client, tmp_path / "s.db", tmp_path / "out").run(
            parse_jobs(edited))
    assert again.jobs[0].directory is None and again.jobs[1].directory is not None


async def test_a_job_removed_from_the_file_is_reported_not_deleted_or_resent(
        fake: FakeAstria, tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        runner = BatchRunner(client, tmp_path / "s.db", None, on_event=events.append)
        await runner.run(parse_jobs(lines(tune, "ohwx a", "ohwx b")))
        only_b = parse_jobs(lines(tune, "ohwx b"))
        summary = await runner.run(only_b)
        plan = await runner.plan(only_b)
    [gone] = summary.not_in_file
    assert [e.key for e in events if e.kind == "not_in_file"] == [gone]
    assert plan.not_in_file == 1 and posts(fake) == 2
    assert "not_in_file=1" in repr(summary) and len(repr(summary)) < 200
    assert summary.to_dict()["not_in_file"] == [gone]


async def test_a_504_after_commit_is_looked_up_and_finished_in_the_same_run(
        fake: FakeAstria, tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    fake.fail(f"/tunes/{tune}/prompts", 504, after_commit=True, method="POST")
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", tmp_path / "out", settle=0,
                                    on_event=events.append).run(
            parse_jobs(lines(tune, "ohwx a", "ohwx b")))
    assert summary.ok and summary.images == 2
    assert posts(fake) == 2  # the 504'd create was found, not sent again
    kinds = [e.kind for e in events]
    assert kinds.count("creating") == 1 and kinds.count("recovered") == 1


async def test_a_create_lost_before_commit_is_sent_again_once(fake: FakeAstria,
                                                              tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    fake.fail(f"/tunes/{tune}/prompts", 504, method="POST")  # not committed
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", None, settle=0,
                                    on_event=events.append).run(
            parse_jobs(lines(tune, "ohwx a")))
    assert summary.ok and posts(fake) == 2
    assert [e.kind for e in events if e.kind in ("creating", "resend", "created")] == [
        "creating", "resend", "created"]


async def test_a_lookup_that_cannot_be_made_is_reported_and_never_a_resend(
        fake: FakeAstria, tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    fake.fail(f"/tunes/{tune}/prompts", 504, method="POST")
    fake.fail(f"/tunes/{tune}/prompts", 400, count=None, method="GET")
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", None, settle=0,
                                    on_event=events.append).run(
            parse_jobs(lines(tune, "ohwx a")))
        [job] = summary.jobs
        assert job.status == "creating" and "lookup failed" in (job.error or "")
        assert posts(fake) == 1
        # The next run (the lookup still failing) leaves it as it is too.
        again = await BatchRunner(client, tmp_path / "s.db", None, settle=0).run(
            parse_jobs(lines(tune, "ohwx a")))
    assert again.counts == {"creating": 1} and posts(fake) == 1
    assert "lookup_failed" in [e.kind for e in events]


async def test_a_long_text_is_looked_up_by_a_bounded_prefix(fake: FakeAstria,
                                                            tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    text = "ohwx " + "猫" * 1000
    [job] = parse_jobs(lines(tune, text))
    journal = SqliteJournal(tmp_path / "s.db")
    await journal.claim()
    await journal.add([job])
    await journal.creating([Mark(job.key, 0)])
    await journal.close()
    landed = fake.add_prompt(tune, text, num_images=1)["id"]
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", None, settle=0).run([job])
    assert summary.ok and summary.jobs[0].prompt_id == landed and posts(fake) == 0
    [lookup] = {r.query["text"] for r in fake.requests if "text" in r.query}
    assert text.startswith(lookup) and len(lookup.encode()) < 256


async def test_an_outage_leaves_jobs_pending_and_fair_use_unspent(fake: FakeAstria,
                                                                  tmp_path: Path) -> None:
    import socket

    from astria_async import AstriaClient, FairUsePolicy, RetryPolicy

    tune = fake.add_tune(branch="sd15")["id"]
    jobs = parse_jobs(lines(tune, *(f"sks {i}" for i in range(4))))
    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    policy = FairUsePolicy(prompts_per_tune=2, automatic_prompts=0)
    async with AstriaClient(fake.api_key, base_url=dead, fair_use=policy,
                            retry=RetryPolicy(max_retries=0)) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", None, settle=0).run(jobs)
        assert client.fair_use.count(tune) == 0  # nothing reached Astria: nothing counted
    assert summary.counts == {"pending": 4} and posts(fake) == 0
    async with client_for(fake) as client:  # the outage is over: all four are sent
        assert (await BatchRunner(client, tmp_path / "s.db", None).run(jobs)).ok
    assert posts(fake) == 4


async def test_a_create_cut_off_after_commit_is_finished_in_the_same_run(
        fake: FakeAstria, tmp_path: Path) -> None:
    from astria_async import AstriaClient, RetryPolicy

    tune = fake.add_tune(branch="fast")["id"]
    # The server stores the prompt, then holds the answer past the client's timeout.
    fake.slow(f"/tunes/{tune}/prompts", 2.0, method="POST", after_commit=True)
    events: list[BatchEvent] = []
    async with AstriaClient(fake.api_key, base_url=fake.url, timeout=0.5,
                            retry=RetryPolicy(max_retries=0),
                            prompt_wait=QUICK) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", tmp_path / "out", settle=0,
                                    on_event=events.append).run(
            parse_jobs(lines(tune, "ohwx cut off")))
    assert summary.ok and summary.images == 1 and posts(fake) == 1
    assert [e.kind for e in events if e.kind in ("creating", "recovered")] == [
        "creating", "recovered"]


class CountingJournal(SqliteJournal):
    """Records how many jobs were marked and not yet finished, at most."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.open: set[str] = set()
        self.most = 0

    async def creating(self, marks: Sequence[Mark]) -> float:
        self.open.update(m.key for m in marks)
        self.most = max(self.most, len(self.open))
        return await super().creating(marks)

    async def done(self, key: str, images: int, cost_mc: int | None = None) -> None:
        self.open.discard(key)
        await super().done(key, images, cost_mc)


async def test_no_job_is_marked_while_fair_use_would_hold_its_create(fake: FakeAstria,
                                                                     tmp_path: Path) -> None:
    from astria_async import AstriaClient, FairUsePolicy

    tune = fake.add_tune(branch="sd15")["id"]
    jobs = parse_jobs(lines(tune, *(f"sks {i}" for i in range(8))))
    journal = CountingJournal(tmp_path / "s.db")
    policy = FairUsePolicy(max_in_flight_per_tune=2)
    async with AstriaClient(fake.api_key, base_url=fake.url, prompt_wait=QUICK,
                            fair_use=policy) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", None, journal=journal).run(jobs)
    assert summary.ok
    # A mark is followed at once by its create: the settle time after a crash covers it.
    assert journal.most == 2


async def test_a_create_lost_twice_stays_pending_for_the_next_run(fake: FakeAstria,
                                                                  tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    fake.fail(f"/tunes/{tune}/prompts", 504, count=2, method="POST")  # never committed
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        runner = BatchRunner(client, tmp_path / "s.db", None, settle=0.05,
                             on_event=events.append)
        summary = await runner.run(parse_jobs(lines(tune, "ohwx a")))
        assert summary.counts == {"pending": 1} and posts(fake) == 2
        assert (await runner.run(parse_jobs(lines(tune, "ohwx a")))).ok
    assert posts(fake) == 3
    assert [e.kind for e in events].count("resend") == 2


async def test_a_resume_settles_before_looking_up(fake: FakeAstria, tmp_path: Path) -> None:
    tune = fake.add_tune(branch="fast")["id"]
    [job] = parse_jobs(lines(tune, "ohwx a"))
    journal = SqliteJournal(tmp_path / "s.db")
    await journal.claim()
    await journal.add([job])
    await journal.creating([Mark(job.key, 0)])
    await journal.close()
    events: list[BatchEvent] = []
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", None, settle=0.2,
                                    on_event=events.append).run([job])
    assert summary.ok and posts(fake) == 1
    assert [e.kind for e in events][:2] == ["settling", "resend"]


async def test_a_bad_key_stops_the_run_and_leaves_the_job_pending(fake: FakeAstria,
                                                                  tmp_path: Path) -> None:
    from astria_async import AuthenticationError

    tune = fake.add_tune(branch="fast")["id"]
    fake.fail(f"/tunes/{tune}/prompts", 401, method="POST")
    jobs = parse_jobs(lines(tune, "ohwx a"))
    async with client_for(fake) as client:
        with pytest.raises(AuthenticationError):
            await BatchRunner(client, tmp_path / "s.db", None, concurrency=1).run(jobs)
        summary = await BatchRunner(client, tmp_path / "s.db", None).run(jobs)  # lock freed
    assert summary.ok and posts(fake) == 2
