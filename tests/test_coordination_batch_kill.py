"""Four `astria batch run --state redis://…` workers SIGKILLed at random and restarted.

Each worker runs in its own folder (its own `-o`) on one job file over several paid LoRA
tunes, one with more jobs than its fair-use cap, while FakeAstria answers some creates with a
429 and some with a 500 after making the prompt. When the kills stop, the workers are run
again until the batch is finished. Then: every job of a tune under its cap was created
exactly once and its images are on disk in some worker's folder, the tune over its cap has
at most its cap of prompts (each job at most once), and no job is left unfinished.

A negative control runs the same with a recovery that re-sends instead of looking up; the
same check must then fail. `ASTRIA_BATCH_KILL_SECONDS` (default 3) and
`ASTRIA_BATCH_KILL_JOBS` (default 60) run it longer; the figures are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _redisserver import SKIP, RedisServer, kill_at_random, serve

from astria_async.batch import Job, load_jobs
from astria_async.batch._redis_journal import RedisJournal
from astria_async.coordination import connect, namespace_for
from astria_async.testing import FakeAstria

pytestmark = SKIP

FLUX = 1504944
SECONDS = float(os.environ.get("ASTRIA_BATCH_KILL_SECONDS", "3"))
JOBS = int(os.environ.get("ASTRIA_BATCH_KILL_JOBS", "60"))
SMALL = max(1, round(JOBS * 0.15))  # jobs of each of three tunes under the cap
CAP = max(SMALL + 4, round(JOBS * 0.25))
OVER = JOBS - 3 * SMALL  # jobs of the tune over its cap
WORKERS = 4

# The CLI, or (the negative control) the CLI with a recovery that re-sends blindly.
WORKER = """
import sys
if sys.argv[1] == "blind":
    from astria_async.batch import _runner

    async def blind(client, rows, **kw):
        return {row.key: None for row in rows}  # "never reached Astria": sent again

    _runner.recover = blind
from astria_async.cli import main
main(sys.argv[2:])
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from serve(tmp_path)


@pytest.fixture
def astria_fake_options() -> dict[str, float]:
    return {"train_seconds": 0.3, "fast_train_seconds": 0.1, "prompt_seconds": 0.2}


def _write_jobs(path: Path, tunes: list[int]) -> list[Job]:
    counts = [SMALL, SMALL, SMALL, OVER]
    lines = [{"tune_id": FLUX, "text": f"<lora:{tune}:1> ohwx man, shot {i}", "num_images": 1}
             for tune, count in zip(tunes, counts, strict=True) for i in range(count)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return load_jobs(path)


async def _rows(fake: FakeAstria, url: str) -> dict[str, str]:
    co = connect(url, namespace=namespace_for(fake.api_key), clock=asyncio.get_running_loop().time,
                 cap=60.0)
    try:
        return {k: r.status for k, r in (await RedisJournal(co, "kill").rows()).items()}
    finally:
        await co.aclose()


def _problems(fake: FakeAstria, jobs: list[Job], tunes: list[int], statuses: dict[str, str],
              folders: list[Path]) -> list[str]:
    """What went wrong: duplicates, a crossed cap, missing images, unfinished jobs."""
    made = Counter(str(p["text"]) for p in fake.prompts.values())
    problems = [f"{text!r} created {n} times" for text, n in made.items() if n > 1]
    over = sum(n for text, n in made.items() if f"<lora:{tunes[3]}:" in text)
    if over > CAP:
        problems.append(f"tune over its cap has {over} prompts (cap {CAP})")
    for job in jobs:
        status = statuses.get(job.key)
        under = f"<lora:{tunes[3]}:" not in (job.params.text or "")
        if under and made[job.params.text or ""] != 1:
            problems.append(f"{job.key} created {made[job.params.text or '']} times")
        if status == "done":
            if not any((folder / job.dirname).is_dir() and any((folder / job.dirname).iterdir())
                       for folder in folders):
                problems.append(f"{job.key} done but no image on disk")
        elif under or status != "failed":
            problems.append(f"{job.key} left {status}")
    return problems


@pytest.mark.parametrize(("blind", "kill_redis"), [(False, False), (False, True), (True, False)],
                         ids=["looks-up", "redis-server-killed", "negative-control"])
async def test_batch_workers_killed_at_random_create_each_job_once(
        astria_fake: FakeAstria, server: RedisServer, tmp_path: Path, blind: bool,
        kill_redis: bool) -> None:
    tunes = [int(astria_fake.add_tune(branch="flux1", model_type="lora")["id"])
             for _ in range(4)]
    jobs = _write_jobs(tmp_path / "jobs.jsonl", tunes)
    state = f"{server.url}/kill?lease=1"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ASTRIA_REDIS_URL": ""}
    folders = [tmp_path / f"worker{i}" for i in range(WORKERS)]
    for folder in folders:
        folder.mkdir()

    async def spawn(i: int) -> asyncio.subprocess.Process:
        argv = [sys.executable, "-c", WORKER, "blind" if blind else "cli",
                "--base-url", astria_fake.url, "--api-key", astria_fake.api_key,
                "--poll-interval", "0.05", "batch", "run", str(tmp_path / "jobs.jsonl"),
                "--state", state, "-o", "images", "-c", "6", "--fair-use-cap", str(CAP),
                "--recover-after", "0.3"]
        return await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=folders[i], stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)

    workers = [await spawn(i) for i in range(WORKERS)]
    kills = await kill_at_random(astria_fake, server, workers, spawn, seconds=SECONDS,
                                 kill_redis=kill_redis)
    rounds = 0
    try:
        while True:  # the batch is finished by workers run again, as a user would
            for worker in workers:
                await asyncio.wait_for(worker.wait(), 120)
            statuses = await _rows(astria_fake, server.url)
            left = [s for s in statuses.values() if s not in ("done", "failed")]
            if not left or rounds == 5:
                break
            rounds += 1
            workers = [await spawn(i) for i in range(WORKERS)]
    finally:
        for worker in workers:  # a worker that hangs fails the test, never outlives it
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    problems = _problems(astria_fake, jobs, tunes, statuses,
                         [folder / "images" for folder in folders])
    made = Counter(str(p["text"]) for p in astria_fake.prompts.values())
    label = "blind re-send" if blind else "lookup, redis-server killed" if kill_redis else "lookup"
    print(f"\nbatch kill test ({label}): {kills} SIGKILLs in {SECONDS:g} s, {len(jobs)} jobs, "
          f"{len(made)} created, {sum(n - 1 for n in made.values())} duplicates, "
          f"{sum(1 for p in problems if 'left' in p)} unfinished, "
          f"{sum(1 for p in problems if 'no image' in p)} missing images, "
          f"{rounds} re-run round(s), statuses {dict(Counter(statuses.values()))}")
    assert kills > 0
    if blind:
        assert problems, "re-sending without a lookup went unnoticed"
        return
    assert problems == []
