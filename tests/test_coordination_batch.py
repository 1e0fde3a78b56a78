"""The batch journal in Redis: several workers on one job file, each job created once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from _journal_contract import check_journal
from _redisserver import SKIP, RedisServer, free_port, serve
from test_cli_support import FakeThread

from astria_async import AstriaClient, WaitPolicy
from astria_async.batch import (
    BatchRunner,
    Job,
    Mark,
    SharedJournal,
    StateFileError,
    StateLockedError,
    job_from_spec,
)
from astria_async.batch._redis_journal import RedisJournal, batch_journal, parse_state
from astria_async.coordination import connect
from astria_async.coordination._redis import RedisCoordination
from astria_async.errors import ConfigurationError, CoordinationError
from astria_async.testing import FakeAstria

pytestmark = SKIP

FLUX = 1504944  # the gallery model the LoRA tunes are used through
QUICK = WaitPolicy(interval=0.05, multiplier=1.5, max_interval=0.2, jitter=0.1, timeout=20)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from serve(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def astria_fake_options() -> dict[str, float]:
    return {"train_seconds": 0.3, "fast_train_seconds": 0.1, "prompt_seconds": 0.2}


@pytest.fixture
def namespace() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
async def coordination(redis_server: RedisServer,
                       namespace: str) -> AsyncIterator[RedisCoordination]:
    co = connect(redis_server.url, namespace=namespace, clock=asyncio.get_running_loop().time,
                 cap=60.0)
    try:
        yield co
    finally:
        await co.aclose()


def _client(fake: FakeAstria, server: RedisServer, namespace: str, **kw: Any) -> AstriaClient:
    return AstriaClient(api_key=fake.api_key, base_url=fake.url, wait=QUICK,
                        coordination=server.url, namespace=namespace, **kw)


def _jobs(tunes: list[int], per_tune: int) -> list[Job]:
    specs = [{"tune_id": FLUX, "text": f"<lora:{t}:1> ohwx man, shot {i}", "num_images": 1}
             for t in tunes for i in range(per_tune)]
    return [job_from_spec(spec, line=n + 1) for n, spec in enumerate(specs)]


def _made(fake: FakeAstria) -> Counter[tuple[int, str]]:
    return Counter((int(p["tune_id"]), str(p["text"])) for p in fake.prompts.values())


async def test_redis_journal_keeps_the_journal_contract(
        coordination: RedisCoordination) -> None:
    name = uuid.uuid4().hex[:8]
    await check_journal(lambda: RedisJournal(coordination, name))
    assert isinstance(RedisJournal(coordination, name), SharedJournal)


@pytest.mark.parametrize("workers", [2, 4])
async def test_workers_on_one_job_file_create_each_job_exactly_once(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str, tmp_path: Path,
        workers: int) -> None:
    tunes = [int(astria_fake.add_tune(branch="flux1")["id"]) for _ in range(2)]
    jobs = _jobs(tunes, 12)
    # A lease a loaded CI rarely lets lapse (a job taken over between a worker's take and its
    # mark is then watched to the end: test_a_job_taken_over_before_its_mark_is_watched_...).
    state = f"{redis_server.url}/many?lease=5"
    clients = [_client(astria_fake, redis_server, namespace) for _ in range(workers)]
    try:
        for client in clients:
            await client.__aenter__()
        runners = [BatchRunner(client, state, tmp_path / f"w{i}", concurrency=4)
                   for i, client in enumerate(clients)]
        summaries = await asyncio.gather(*(r.run(jobs) for r in runners))
    finally:
        for client in clients:
            await client.aclose()
    made = _made(astria_fake)
    assert sorted(made.values()) == [1] * len(jobs)
    for summary in summaries:  # each worker reports the whole batch done
        assert summary.counts == {"done": len(jobs)}, [
            (r.key, r.status, r.prompt_id, r.error) for r in summary.jobs if r.status != "done"]
    on_disk = [j for j in jobs if any((tmp_path / f"w{i}" / j.dirname).is_dir()
                                      for i in range(workers))]
    assert len(on_disk) == len(jobs)
    folders = {i for i in range(workers) if any((tmp_path / f"w{i}").iterdir())}
    assert len(folders) > 1  # the work was shared, not done by one worker


async def test_a_dead_workers_creating_job_is_looked_up_not_resent(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str,
        tmp_path: Path) -> None:
    tune = int(astria_fake.add_tune(branch="flux1")["id"])
    jobs = _jobs([tune], 3)
    state = f"{redis_server.url}/dead?lease=0.3"
    async with _client(astria_fake, redis_server, namespace) as dead:
        journal = batch_journal(dead, state)
        await journal.claim()
        await journal.add(jobs)
        assert await journal.take(jobs[0].key) is not None
        await journal.creating([Mark(jobs[0].key, 0)])
        # The create reached Astria; then the worker died (no answer journaled, no close).
        await dead.prompts.create(FLUX, text=jobs[0].params.text, num_images=1)
        assert journal.coordination is dead.coordination
        # A worker that dies stops renewing its lease (SIGKILL: nothing else runs).
        assert journal._heartbeat is not None
        journal._heartbeat.cancel()
        assert [w.alive for w in await journal.workers()] == [True]
        await asyncio.sleep(0.35)
        assert [w.alive for w in await journal.workers()] == [False]
    async with _client(astria_fake, redis_server, namespace) as alive:
        events: list[str] = []
        runner = BatchRunner(alive, state, tmp_path, settle=0.1,
                             on_event=lambda e: events.append(e.kind))
        summary = await asyncio.wait_for(runner.run(jobs), 30)
    assert summary.counts == {"done": 3}
    assert "recovered" in events
    assert sorted(_made(astria_fake).values()) == [1, 1, 1]


def test_state_urls_are_checked() -> None:
    assert parse_state("redis://h:6379/0/my-batch") == ("redis://h:6379/0", "my-batch", None)
    assert parse_state("rediss://h/2/b.1?lease=2.5") == ("rediss://h/2", "b.1", 2.5)
    for bad in ("redis://h:6379/my-batch", "redis://h/0/", "redis://h/0/a b", "http://h/0/x",
                "redis://h/0/x?lease=0", "redis://h/0/x?lease=soon"):
        with pytest.raises(ConfigurationError, match="--state"):
            parse_state(bad)


async def test_a_client_not_on_that_redis_is_refused(redis_server: RedisServer) -> None:
    async with AstriaClient(api_key="k", coordination="") as client:
        with pytest.raises(ConfigurationError, match="coordinating through the same Redis"):
            batch_journal(client, f"{redis_server.url}/x")
        with pytest.raises(ConfigurationError, match="coordinating through the same Redis"):
            await BatchRunner(client, f"{redis_server.url}/x").run([])


@pytest.fixture
def fake_thread() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def _jobs_file(path: Path, fake: FakeThread, count: int) -> Path:
    tune = fake.call(lambda f: int(f.add_tune(branch="flux1")["id"]))
    path.write_text("".join(json.dumps({"tune_id": FLUX, "num_images": 1,
                                        "text": f"<lora:{tune}:1> shot {i}"}) + "\n"
                            for i in range(count)))
    return path


def test_cli_runs_a_redis_state_and_shows_it(fake_thread: FakeThread,
                                             redis_server: RedisServer, tmp_path: Path) -> None:
    jobs = _jobs_file(tmp_path / "jobs.jsonl", fake_thread, 3)
    state = f"{redis_server.url}/cli-{uuid.uuid4().hex[:6]}"
    ran = fake_thread.invoke("--poll-interval", "0.05", "batch", "run", str(jobs), "--state",
                             state, "-o", str(tmp_path / "out"))
    assert ran.exit_code == 0, ran.output
    shown = fake_thread.invoke("--json", "batch", "status", state)
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.stdout)
    assert found["counts"] == {"done": 3} and found["images"] == 3
    assert found["workers"] == []  # the worker left when its run ended
    table = fake_thread.invoke("batch", "status", state)
    assert table.exit_code == 0 and "done" in table.output
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_cli_errors_are_one_line(fake_thread: FakeThread, tmp_path: Path) -> None:
    jobs = _jobs_file(tmp_path / "jobs.jsonl", fake_thread, 1)
    for state, message in ((f"redis://127.0.0.1:{free_port()}/0/x", "unreachable"),
                           ("redis://127.0.0.1:1/db/x", "is not a Redis batch state")):
        for args in (("batch", "run", str(jobs), "--state", state), ("batch", "status", state)):
            result = fake_thread.invoke(*args)
            assert result.exit_code != 0
            assert message in result.output and "Traceback" not in result.output
    missing = fake_thread.invoke("batch", "status", str(tmp_path / "nope.db"))
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_cli_refuses_a_redis_without_its_append_only_file(
        fake_thread: FakeThread, tmp_path: Path) -> None:
    jobs = _jobs_file(tmp_path / "jobs.jsonl", fake_thread, 1)
    for server in serve(tmp_path, appendonly=False):
        result = fake_thread.invoke("batch", "run", str(jobs), "--state", f"{server.url}/x")
        assert result.exit_code == 1
        assert "append-only file" in result.output and "Traceback" not in result.output
    assert fake_thread.call(lambda f: len(f.prompts)) == 0


async def test_a_journal_joins_once_and_knows_its_jobs(coordination: RedisCoordination) -> None:
    journal = RedisJournal(coordination, uuid.uuid4().hex[:8])
    await journal.claim()
    try:
        with pytest.raises(StateLockedError, match="already joined"):
            await journal.claim()
        with pytest.raises(StateFileError, match="not journaled"):
            await journal.take("nope")
    finally:
        await journal.close()


async def test_jobs_held_by_others_are_read_in_one_round_trip(
        coordination: RedisCoordination) -> None:
    name = uuid.uuid4().hex[:8]
    jobs = _jobs([1], 4)
    keys = [job.key for job in jobs]
    a, b = RedisJournal(coordination, name, lease=0.3), RedisJournal(coordination, name)
    await a.claim()
    await b.claim()
    try:
        await a.add(jobs)
        for key in keys[:3]:
            assert await a.take(key) is not None
        await a.done(keys[1], images=1)
        await a.failed(keys[2], "refused")
        # a holds 0 unfinished, 1 and 2 are finished, nobody holds 3.
        assert await b.held(keys) == ([keys[0]], [keys[3]])
        assert await a.held(keys) == ([], [keys[0], keys[3]])  # its own are not "held"
        calls: list[str] = []
        script = b._script

        async def counted(name: str, keys: list[str], args: list[Any]) -> Any:
            calls.append(name)
            return await script(name, keys, args)

        b._script = counted  # type: ignore[method-assign]
        assert await b.held(keys * 300) == ([keys[0]] * 300, [keys[3]] * 300)
        assert calls == ["JOB_HELD"] * 3  # 1,200 keys: one round trip per 500
        assert a._heartbeat is not None
        a._heartbeat.cancel()  # a dies: once its lease lapses its job is free
        await asyncio.sleep(0.35)
        assert await b.held(keys) == ([], [keys[0], keys[3]])
    finally:
        await b.close()


async def test_marks_wait_out_the_account_pause(coordination: RedisCoordination) -> None:
    journal = RedisJournal(coordination, uuid.uuid4().hex[:8])
    jobs = _jobs([1], 1)
    await journal.claim()
    try:
        await journal.add(jobs)
        await journal.take(jobs[0].key)
        # A 429 another worker saw: the pause key every worker reads before sending.
        await coordination.redis.set(coordination.key("pause"), "1", px=300)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await journal.creating([Mark(jobs[0].key, 0)])
        assert loop.time() - start >= 0.25
        assert (await journal.rows())[jobs[0].key].status == "creating"
    finally:
        await journal.close()


async def test_a_dead_workers_unsent_create_is_sent_once_by_the_next(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str,
        tmp_path: Path) -> None:
    tune = int(astria_fake.add_tune(branch="flux1")["id"])
    jobs = _jobs([tune], 2)
    state = f"{redis_server.url}/unsent?lease=0.3"
    async with _client(astria_fake, redis_server, namespace) as dead:
        journal = batch_journal(dead, state)
        await journal.claim()
        await journal.add(jobs)
        await journal.take(jobs[0].key)
        await journal.creating([Mark(jobs[0].key, 0)])
        assert journal._heartbeat is not None
        journal._heartbeat.cancel()  # died before sending the create
    async with _client(astria_fake, redis_server, namespace) as alive:
        events: list[str] = []
        runner = BatchRunner(alive, state, tmp_path, settle=0.1,
                             on_event=lambda e: events.append(e.kind))
        summary = await asyncio.wait_for(runner.run(jobs), 30)
    assert summary.counts == {"done": 2} and "resend" in events
    assert sorted(_made(astria_fake).values()) == [1, 1]


class _Stolen(RedisJournal):
    """Another live worker takes the job between this worker's take and its mark."""

    other: RedisJournal | None = None
    stolen: asyncio.Event

    async def creating(self, marks: Sequence[Mark]) -> float:
        if self.other is None:
            self.other = RedisJournal(self.coordination, self.name)
            await self.other.claim()
            await self.coordination.redis.hset(self._prefix + "job:" + marks[0].key,
                                               "owner", self.other.worker)
            self.stolen.set()
        return await super().creating(marks)


async def test_a_job_taken_over_before_its_mark_is_watched_to_the_end(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str,
        tmp_path: Path) -> None:
    tune = int(astria_fake.add_tune(branch="flux1")["id"])
    jobs = _jobs([tune], 1)
    async with _client(astria_fake, redis_server, namespace) as client:
        journal = _Stolen(client.coordination or _never(), uuid.uuid4().hex[:8])
        journal.retry_after, journal.stolen = 0.05, asyncio.Event()
        events: list[str] = []
        runner = BatchRunner(client, "shared", tmp_path, journal=journal,
                             on_event=lambda e: events.append(e.kind))
        run = asyncio.create_task(runner.run(jobs))
        try:
            await asyncio.wait_for(journal.stolen.wait(), 10)
            await asyncio.sleep(0.3)
            # Left to the worker that took it (nothing sent) but not forgotten: this worker's
            # summary must not show the job unfinished while another still runs it.
            assert not run.done() and events == ["held"]
            assert _made(astria_fake) == Counter()
            assert journal.other is not None
            await journal.other.close()  # that worker leaves without running it
            summary = await asyncio.wait_for(run, 30)
        finally:
            run.cancel()  # only still running when an assertion failed: ended, not leaked
            await asyncio.gather(run, return_exceptions=True)
            if journal.other is not None:
                await journal.other.close()
    assert summary.counts == {"done": 1}
    assert sorted(_made(astria_fake).values()) == [1]


def _never() -> RedisCoordination:
    raise AssertionError("the client has no coordination")


class _Counted(RedisJournal):
    """Counts the jobs this worker takes."""

    taken: list[str]

    async def take(self, key: str) -> Any:
        self.taken.append(key)
        return await super().take(key)


async def test_jobs_other_workers_hold_or_finished_cost_no_take(
        astria_fake: FakeAstria, redis_server: RedisServer, namespace: str,
        tmp_path: Path) -> None:
    tune = int(astria_fake.add_tune(branch="flux1")["id"])
    jobs = _jobs([tune], 4)
    keys = [job.key for job in jobs]
    async with _client(astria_fake, redis_server, namespace) as client:
        co = client.coordination or _never()
        name = uuid.uuid4().hex[:8]
        other = RedisJournal(co, name)
        await other.claim()
        try:
            await other.add(jobs)
            for key in keys[:2]:
                await other.take(key)
            await other.done(keys[1], images=1)  # the other worker finished job 1, holds job 0
            journal = _Counted(co, name)
            journal.taken = []

            async def finish_later() -> None:
                await asyncio.sleep(0.3)
                await other.done(keys[0], images=1)

            later = asyncio.ensure_future(finish_later())
            runner = BatchRunner(client, "shared", tmp_path, journal=journal)
            summary = await asyncio.wait_for(runner.run(jobs), 30)
            await later
        finally:
            await other.close()
    assert summary.counts == {"done": 4}
    assert journal.taken == keys[2:]  # one look for all four, then only the free ones taken
    assert sorted(_made(astria_fake).values()) == [1, 1]


class _Deaf(RedisJournal):
    """A renewal in which the cancellation is lost (seen inside the Redis client after a
    Redis restart): it turns into a Redis error, which the heartbeat logs and goes on."""

    async def _renew(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise CoordinationError("Redis timed out") from None


async def test_leaving_ends_the_heartbeat_even_if_a_renewal_loses_the_cancel(
        coordination: RedisCoordination) -> None:
    journal = _Deaf(coordination, uuid.uuid4().hex[:8], lease=0.3)
    await coordination.start()
    journal._heartbeat = asyncio.ensure_future(journal._beat())
    await asyncio.sleep(0.15)  # the heartbeat is renewing now
    closing = asyncio.ensure_future(journal.close())
    done, _ = await asyncio.wait({closing}, timeout=5)
    assert done == {closing}  # it hung here: the beat went on for ever


async def test_closing_ends_its_tasks_even_if_a_redis_call_loses_the_cancel(
        redis_server: RedisServer, namespace: str) -> None:
    co = connect(redis_server.url, namespace=namespace, clock=asyncio.get_running_loop().time,
                 cap=60.0)
    await co.start()

    async def deaf(now: float) -> None:  # the leader's cycle, caught in a lost cancellation
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise CoordinationError("Redis timed out") from None

    co.leadership.cycle = deaf  # type: ignore[method-assign]
    await asyncio.sleep(0.6)  # a cycle is running now
    closing = asyncio.ensure_future(co.aclose())
    done, _ = await asyncio.wait({closing}, timeout=5)
    assert done == {closing}  # it hung here: the leader's loop went on
