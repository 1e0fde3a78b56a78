"""A 300-job batch, killed with SIGKILL mid-way and resumed: nothing paid twice, nothing lost.

Needs `pip install 'astria-async[cli]'` (the `astria` command). Runs entirely offline against
FakeAstria (started in this process, on loopback):

    python examples/batch_job.py                    # 300 jobs, one kill
    python examples/batch_job.py --jobs 1000 --kills 25 --seed 7

What it does, as a user would:

1. writes `jobs.jsonl`: one JSON object per line (`tune_id`, `text`, `num_images`), 20 a
   tune so no tune passes Astria's fair-use cap (21 prompts a tune);
2. starts `astria batch run jobs.jsonl` (the fake's creates answer after 0.2 s, like a
   busy gateway), and kills it with SIGKILL at a random moment, as
   many times as `--kills` says (each time resuming where the last run was killed);
3. runs it once more to the end, and checks: every job's prompt was created exactly once
   on the server, every image is on disk and complete, the command exited 0.

It prints one line: kills, jobs, duplicates, missing images. Exit status 0 when both are 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from astria_async.batch import StateFileError, read_status
from astria_async.testing import FakeAstria

T = TypeVar("T")
PER_TUNE = 20  # jobs per tune: under Astria's fair-use cap (21 prompts a tune)
PNG_END = b"IEND\xaeB`\x82"  # the last 8 bytes of every complete PNG


class FakeInThread:
    """FakeAstria served from a background thread, so the CLI can run as a real process."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.fake: FakeAstria = self._run(self._start(options))

    async def _start(self, options: dict[str, Any]) -> FakeAstria:
        fake = FakeAstria(**options)
        await fake.start()
        return fake

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def call(self, fn: Callable[[FakeAstria], T]) -> T:
        """Run `fn(fake)` on the fake's own loop (its state is not thread-safe)."""
        async def run() -> T:
            return fn(self.fake)

        result: T = self._run(run())
        return result

    def close(self) -> None:
        """Stop the server and its thread."""
        self._run(self.fake.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def write_jobs(path: Path, tunes: list[int], count: int) -> None:
    """`count` distinct prompts, round-robin over `tunes`, one or two images each."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(count):
            job = {"tune_id": tunes[i % len(tunes)], "text": f"sks person, portrait {i}",
                   "num_images": 1 + i % 2}
            fh.write(json.dumps(job) + "\n")


def sent(state: Path) -> bool:
    """True once the journal shows a job whose create was sent (or is about to be)."""
    try:
        counts = read_status(state).counts
    except StateFileError:  # not made yet
        return False
    return sum(counts.values()) > counts.get("pending", 0)


def command(jobs: Path, out: Path) -> list[str]:
    """`astria batch run` as a user would type it (quick polls; creates land at once here)."""
    return [sys.executable, "-m", "astria_async.cli", "--poll-interval", "0.1", "batch", "run",
            str(jobs), "-o", str(out), "--recover-after", "1"]


def run_batch(jobs: int = 300, kills: int = 1, seed: int | None = None,
              workdir: Path | None = None, slow_creates: float = 0.2) -> dict[str, int]:
    """The whole scenario; returns kills, jobs, prompts created, duplicates, missing images,
    and how many kills landed mid-way (some jobs sent, not all done) or with a create
    unanswered (a job journaled `creating`)."""
    rng = random.Random(seed)
    server = FakeInThread(prompt_seconds=0.3, fast_train_seconds=0.1)
    root = Path(workdir or tempfile.mkdtemp(prefix="astria-batch-example-"))
    try:
        tunes = [server.call(lambda f: f.add_tune(branch="sd15"))["id"]
                 for _ in range(-(-jobs // PER_TUNE))]
        if slow_creates:  # a slow gateway: kills often land while a create is unanswered
            server.call(lambda f: f.slow("/tunes/", slow_creates, count=None, method="POST"))
        jobs_file, out = root / "jobs.jsonl", root / "images"
        write_jobs(jobs_file, tunes, jobs)
        env = {**os.environ, "ASTRIA_BASE_URL": server.fake.url,
               "ASTRIA_API_KEY": server.fake.api_key}
        done_kills = 0
        at_kill: list[dict[str, int]] = []
        for _ in range(kills):
            proc = subprocess.Popen(command(jobs_file, out), env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            # Once the run has sent something, at a random moment of the creates, waits and
            # downloads.
            state = jobs_file.with_name("jobs.state.db")
            while proc.poll() is None and not sent(state):
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                done_kills += 1
            proc.wait()
            if state.exists():  # where the kill landed: jobs per status in the journal
                at_kill.append(read_status(state).counts)
        final = subprocess.run(command(jobs_file, out), env=env, capture_output=True,
                               text=True, timeout=600)
        if final.returncode != 0:
            raise RuntimeError(f"the last run failed ({final.returncode}):\n{final.stderr}")
        prompts = server.call(lambda f: list(f.prompts.values()))
        texts = Counter(p["text"] for p in prompts)
        duplicates = sum(n - 1 for n in texts.values() if n > 1)
        expected = {f"sks person, portrait {i}": 1 + i % 2 for i in range(jobs)}
        missing = sum(expected.values()) - sum(
            1 for png in out.glob("*/*.png") if png.read_bytes().endswith(PNG_END))
        missing += sum(n for text, n in expected.items() if text not in texts)
        return {"kills": done_kills, "jobs": jobs, "prompts": len(prompts),
                "duplicates": duplicates, "missing": missing,
                "mid_way": sum(1 for c in at_kill if c.get("done", 0) < jobs
                               and sum(c.values()) > c.get("pending", 0)),
                "in_creating": sum(1 for c in at_kill if c.get("creating"))}
    finally:
        server.close()
        if workdir is None:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    """Command line: `--jobs`, `--kills`, `--seed`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--kills", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--slow-creates", type=float, default=0.2, metavar="SECONDS",
                        help="delay every create by this much (0: answer at once)")
    args = parser.parse_args()
    # The fake logs a request whose client vanished mid-body (each SIGKILL here does that).
    logging.getLogger("astria_async.testing").setLevel(logging.CRITICAL)
    started = time.monotonic()
    report = run_batch(args.jobs, args.kills, args.seed, slow_creates=args.slow_creates)
    print(f"kills={report['kills']} (mid-way {report['mid_way']}, with a create unanswered "
          f"{report['in_creating']}) jobs={report['jobs']} prompts={report['prompts']} "
          f"duplicates={report['duplicates']} missing={report['missing']} "
          f"({time.monotonic() - started:.1f} s)")
    return 0 if report["duplicates"] == 0 and report["missing"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
