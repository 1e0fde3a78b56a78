"""Scale-out: 1, 2, 4 and 8 worker processes sharing one Redis, on one account.

Every worker is a separate process with its own `AstriaClient(coordination=redis://…)`; the
jobs (prompts spread over many tunes) are dealt round-robin to the workers, which create and
await them all at once. Fair use is shared (`max_in_flight` across all workers), so the
physical limit of the makespan is `ceil(jobs / max_in_flight)` prompt durations. Polls are
the fake's `GET /prompts…` requests: one board per account should keep N workers near what
one worker polls. Redis operations are the server's `total_commands_processed` delta (all
clients, pub/sub included). A single client without Redis is the baseline.

Then the batch journal: 1, 2 and 4 `BatchRunner` workers on one job file against one
`redis://…/<name>` state (every worker runs the whole file; each job is taken by one), against
one worker with the SQLite journal: makespan, creates (each job once) and Redis round trips
and commands per job. Needs
`redis-server` on PATH (Debian: `apt-get install redis-server`); skipped without it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Check, Outcome, bench_main, note, remote_fake, table

NAME = "scale_out"
POLL_TARGET = 1.2  # 4 workers poll at most 1.2x what one worker polls
IN_FLIGHT = 200
PER_TUNE = 8

WORKER = """
import asyncio, json, sys, time
from astria_async import AstriaClient, FairUsePolicy, WaitPolicy
base, key, url, tunes, share, in_flight, interval = sys.argv[1:8]
tunes = json.loads(tunes)
share = json.loads(share)

async def main() -> None:
    policy = FairUsePolicy(max_in_flight=int(in_flight), max_in_flight_per_tune=8,
                           prompts_per_tune=1000)
    wait = WaitPolicy(interval=float(interval), multiplier=1.0, jitter=0.0, timeout=600)
    options = {"coordination": url} if url != "-" else {"coordination": ""}
    async with AstriaClient(api_key=key, base_url=base, fair_use=policy, wait=wait,
                            **options) as client:
        started = time.time()
        async def job(i: int) -> None:
            tune = tunes[i % len(tunes)]
            prompt = await client.prompts.create(1504944, text=f"<lora:{tune}:1> ohwx man {i}")
            await client.prompts.wait_images(prompt)
        await asyncio.gather(*(job(i) for i in share))
        ended = time.time()
        ops = client._coordination.ops if client._coordination is not None else 0
    print(json.dumps({"started": started, "ended": ended, "jobs": len(share), "ops": ops}))

asyncio.run(main())
"""

BATCH_WORKER = """
import asyncio, json, sys, tempfile, time
from astria_async import AstriaClient, FairUsePolicy, WaitPolicy
from astria_async.batch import BatchRunner, job_from_spec
base, key, url, tunes, jobs, in_flight, interval = sys.argv[1:8]
tunes = json.loads(tunes)

async def main() -> None:
    policy = FairUsePolicy(max_in_flight=int(in_flight), max_in_flight_per_tune=8,
                           prompts_per_tune=1000)
    wait = WaitPolicy(interval=float(interval), multiplier=1.0, jitter=0.0, timeout=600)
    specs = [{"tune_id": 1504944, "num_images": 1,
              "text": f"<lora:{tunes[i % len(tunes)]}:1> ohwx man {i}"} for i in range(int(jobs))]
    job_list = [job_from_spec(spec, line=i + 1) for i, spec in enumerate(specs)]
    with tempfile.TemporaryDirectory() as folder:
        state = f"{url}/bench" if url != "-" else f"{folder}/state.db"
        async with AstriaClient(api_key=key, base_url=base, fair_use=policy, wait=wait,
                                coordination=url if url != "-" else "") as client:
            started = time.time()
            summary = await BatchRunner(client, state, None, settle=1.0).run(job_list)
            ended = time.time()
            co = client.coordination
            ops = co.ops if co is not None else 0
    assert summary.ok, summary.counts
    print(json.dumps({"started": started, "ended": ended, "jobs": len(job_list), "ops": ops}))

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redis:
    """A throwaway redis-server (append-only file on, `appendfsync everysec`)."""

    def __init__(self, binary: str, folder: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", folder, "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                if self.command("PING").startswith("+PONG"):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def command(self, *words: str) -> str:
        """One inline command, its raw reply (enough for PING, FLUSHALL and INFO)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall((" ".join(words) + "\r\n").encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                data += chunk
                if not chunk or (data.startswith((b"+", b"-", b":")) and data.endswith(b"\r\n")):
                    break
                if data.startswith(b"$"):
                    size = int(data[1:data.index(b"\r\n")])
                    if len(data) >= data.index(b"\r\n") + 2 + size + 2:
                        break
            return data.decode()

    def commands(self) -> int:
        """Commands the server has processed so far."""
        for line in self.command("INFO", "stats").splitlines():
            if line.startswith("total_commands_processed:"):
                return int(line.split(":")[1])
        raise RuntimeError("no total_commands_processed in INFO")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def scenario(fake: Any, redis: Redis | None, workers: int, jobs: int, interval: float,
             *, batch: bool = False) -> dict[str, Any]:
    """One run: `workers` processes share `jobs` (dealt round-robin, or with `batch` one job
    file and one batch state they all run); polls, makespan and Redis commands."""
    fake.ask("clear")
    before = 0
    if redis is not None:
        redis.command("FLUSHALL")
        before = redis.commands()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen(
        [sys.executable, "-c", BATCH_WORKER if batch else WORKER, fake.url, fake.api_key,
         redis.url if redis is not None else "-", json.dumps(fake.tunes),
         str(jobs) if batch else json.dumps(list(range(w, jobs, workers))), str(IN_FLIGHT),
         str(interval)],
        stdout=subprocess.PIPE, text=True, env=env) for w in range(workers)]
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed with status {proc.returncode}")
        reports.append(json.loads(out))
    polls = fake.ask("count GET /prompts*") + fake.ask("count GET /tunes/*/prompts*")
    creates = fake.ask("count POST /tunes/*/prompts")
    ops = (redis.commands() - before) if redis is not None else 0
    makespan = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    return {"workers": workers, "jobs": jobs, "creates": creates, "polls": polls,
            "makespan": makespan, "redis_ops": ops, "client_ops": sum(r["ops"] for r in reports)}


def run(quick: bool) -> Outcome:
    """The sweep over worker counts, against a single plain client."""
    binary = shutil.which("redis-server")
    if binary is None:
        note("redis-server not on PATH: scale-out skipped (apt-get install -y redis-server)")
        return Outcome(NAME, [Check(NAME, "scale-out", "skipped: no redis-server")])
    jobs, tunes, seconds = (200, 10, 1.0) if quick else (2000, 100, 2.0)
    interval = 0.5
    sizes = (1, 2, 4) if quick else (1, 2, 4, 8)
    slots = min(IN_FLIGHT, PER_TUNE * tunes)  # prompts in flight at once, at most
    limit = math.ceil(jobs / slots) * seconds
    note(f"{jobs} jobs on {tunes} tunes, prompts take {seconds} s, poll interval {interval} s, "
         f"in flight at most {slots} (max_in_flight {IN_FLIGHT}, {PER_TUNE} per tune), shared: "
         f"physical limit {limit:.0f} s")
    results: list[dict[str, Any]] = []
    with remote_fake(tunes=tunes, prompts=0, prompt_seconds=seconds) as fake, \
            tempfile.TemporaryDirectory() as folder:
        plain = scenario(fake, None, 1, jobs, interval)
        sqlite = scenario(fake, None, 1, jobs, interval, batch=True)
        batches: list[dict[str, Any]] = []
        redis = Redis(binary, folder)
        try:
            for n in sizes:
                results.append(scenario(fake, redis, n, jobs, interval))
            for n in (1, 2, 4):
                batches.append(scenario(fake, redis, n, jobs, interval, batch=True))
        finally:
            redis.stop()
    one = results[0]["polls"]
    rows: list[tuple[Any, ...]] = [("1 (no Redis)", plain["creates"], plain["polls"], "1.00",
             f"{plain['makespan']:.1f}", f"{plain['makespan'] / limit:.2f}", "-", "-")]
    for r in results:
        rows.append((r["workers"], r["creates"], r["polls"], f"{r['polls'] / one:.2f}",
                     f"{r['makespan']:.1f}", f"{r['makespan'] / limit:.2f}",
                     f"{r['redis_ops'] / r['jobs']:.1f}", f"{r['client_ops'] / r['jobs']:.1f}"))
    table(f"Scale-out ({jobs} jobs; physical limit {limit:.0f} s)",
          ["workers", "creates", "polls", "polls vs 1", "makespan s", "vs limit",
           "Redis commands/job", "round trips/job"], rows)
    rows = [("1 (SQLite journal)", sqlite["creates"], sqlite["polls"],
             f"{sqlite['makespan']:.1f}", f"{sqlite['makespan'] / limit:.2f}", "-", "-")]
    for r in batches:
        rows.append((r["workers"], r["creates"], r["polls"], f"{r['makespan']:.1f}",
                     f"{r['makespan'] / limit:.2f}", f"{r['redis_ops'] / r['jobs']:.1f}",
                     f"{r['client_ops'] / r['jobs']:.1f}"))
    # Requests that read prompts (the board's, and each worker counting its tunes' prompts
    # for fair use at the start: one worker does that for all of them).
    table(f"Batch journal in Redis ({jobs} jobs, one job file, one state)",
          ["workers", "creates", "prompt reads", "makespan s", "vs limit",
           "Redis commands/job", "round trips/job"], rows)
    four = next((r for r in results if r["workers"] == 4), results[-1])
    ratio = four["polls"] / one
    checks = [
        Check(NAME, f"polls, {four['workers']} workers vs 1", f"{ratio:.2f}",
              f"<= {POLL_TARGET}", ratio <= POLL_TARGET),
        Check(NAME, "  makespan vs physical limit (largest N)",
              f"{results[-1]['makespan'] / limit:.2f}"),
        Check(NAME, "  Redis commands per job (largest N)",
              f"{results[-1]['redis_ops'] / results[-1]['jobs']:.1f}"),
        Check(NAME, "  Redis round trips per job (largest N)",
              f"{results[-1]['client_ops'] / results[-1]['jobs']:.1f}"),
        Check(NAME, "  every job created once",
              str(all(r["creates"] == r["jobs"] for r in [plain, *results])), "True",
              all(r["creates"] == r["jobs"] for r in [plain, *results])),
        Check(NAME, "  batch journal: Redis round trips per job (4 workers)",
              f"{batches[-1]['client_ops'] / batches[-1]['jobs']:.1f}"),
        Check(NAME, "  batch journal: every job created once",
              str(all(r["creates"] == r["jobs"] for r in [sqlite, *batches])), "True",
              all(r["creates"] == r["jobs"] for r in [sqlite, *batches])),
    ]
    return Outcome(NAME, checks, {"physical_limit": limit, "plain": plain, "runs": results,
                                  "batch_sqlite": sqlite, "batch_runs": batches,
                                  "folder": str(Path(folder).name)})


if __name__ == "__main__":
    bench_main(run, __doc__)
