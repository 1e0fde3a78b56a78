"""Batch journal: time to the first create and fsyncs per job, group commit vs per-job commits.

Three ways run the same 300 prompts (one tune, fake in a child process, fair-use guard off so
nothing but the journal paces the creates, journal on the real disk):

- plain calls: `prompts.create` for every prompt at once (no journal): the floor;
- per-job journal (before): what the batch journal did before group commit, rebuilt here as
  a `Journal` subclass: each "creating" mark in its own fsync'd transaction, and every other
  step (created, done) fsync'd too;
- group commit (after): `SqliteJournal` as shipped: the marks of every job ready at once in
  one fsync'd transaction; the other steps not fsync'd one by one.

fsyncs are counted two ways: the journal's own count of fsync'd commits, and (when `strace`
is installed) the fsync/fdatasync system calls of the whole process, run in a child under
`strace -f -c`. Targets (issue #16): first create <= 0.3 s, fsyncs per job <= 1.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import HERE, Check, Outcome, bench_main, note, remote_fake, table

from astria_async import AstriaClient, WaitPolicy
from astria_async.batch import BatchEvent, BatchRunner, Mark, SqliteJournal, job_from_spec

NAME = "batch_journal"
FIRST_CREATE_TARGET = 0.3
FSYNC_TARGET = 1.0
FLUX_DEV = 1504944  # LoRA prompts are posted to the base model (API notes §5.1)


class PerJobJournal(SqliteJournal):
    """The journal before group commit: one fsync'd transaction per mark and per step."""

    async def creating(self, marks: Sequence[Mark]) -> float:
        at = 0.0
        for mark in marks:
            at = await super().creating([mark])
        return at

    def _set(self, key: str, **values: Any) -> None:
        with self._tx(durable=True) as db:
            values["updated_at"] = time.time()
            names = ", ".join(f"{k} = ?" for k in values)
            db.execute(f"UPDATE jobs SET {names} WHERE key = ?", (*values.values(), key))


async def one_way(way: str, url: str, key: str, tune: int, n: int, root: Path) -> dict[str, Any]:
    """Run `n` prompts one way; seconds to the first and last create, fsync'd commits."""
    policy = WaitPolicy(interval=0.2, multiplier=1.0, max_interval=0.2, timeout=120)
    texts = [f"<lora:{tune}:1> ohwx man, portrait {way} {i}" for i in range(n)]
    async with AstriaClient(api_key=key, base_url=url, prompt_wait=policy,
                            fair_use=None) as client:
        loop = asyncio.get_running_loop()
        creates: list[float] = []
        started = loop.time()
        if way == "plain":
            async def one(text: str) -> None:
                await client.prompts.create(FLUX_DEV, text=text, num_images=1)
                creates.append(loop.time() - started)

            await asyncio.gather(*(one(t) for t in texts))
            return {"first": min(creates), "last": max(creates), "commits": 0}
        journal = (PerJobJournal if way == "before" else SqliteJournal)(root / f"{way}.db")

        def seen(event: BatchEvent) -> None:
            if event.kind == "created":
                creates.append(loop.time() - started)

        jobs = [job_from_spec({"tune_id": FLUX_DEV, "text": t, "num_images": 1})
                for t in texts]
        runner = BatchRunner(client, root / f"{way}.db", root / f"{way}-images",
                             journal=journal, on_event=seen)
        summary = await runner.run(jobs)
        assert summary.ok, summary
        return {"first": min(creates), "last": max(creates),
                "commits": journal.durable_commits}


def child(argv: list[str]) -> None:
    """`--child WAY URL KEY TUNE N ROOT`: one way, its figures as JSON on stdout."""
    way, url, key, tune, n, root = argv
    print(json.dumps(asyncio.run(one_way(way, url, key, int(tune), int(n), Path(root)))))


def measure(way: str, fake: Any, tune: int, n: int, root: Path) -> dict[str, Any]:
    """One way in a child process (under strace when there is one)."""
    argv = [sys.executable, __file__, "--child", way, fake.url, fake.api_key, str(tune),
            str(n), str(root)]
    strace = shutil.which("strace")
    trace = root / f"{way}.strace"
    if strace:
        argv = [strace, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(trace), *argv]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {way} run failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["fsyncs"] = None
    if strace and trace.exists():
        calls = re.findall(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$",
                           trace.read_text(), re.MULTILINE)
        figures["fsyncs"] = sum(int(c) for c, _ in calls)
    return figures


def run(quick: bool) -> Outcome:
    """300 prompts each way (100 in --quick)."""
    n = 100 if quick else 300
    root = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=HERE))  # the real disk
    try:
        with remote_fake(tunes=3, prompt_seconds=0.5, train_seconds=1.0) as fake:
            ways = {way: measure(way, fake, fake.tunes[i], n, root)
                    for i, way in enumerate(("plain", "before", "after"))}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    note(f"{n} prompts each way; fsync'd commits from the journal, fsync calls from strace "
         f"({'present' if shutil.which('strace') else 'absent'})")
    labels = {"plain": "plain calls (no journal)", "before": "per-job journal (before)",
              "after": "group commit (after)"}
    rows = []
    for way, f in ways.items():
        calls = "-" if f["fsyncs"] is None else f"{f['fsyncs'] / n:.2f}"
        rows.append((labels[way], f"{f['first']:.3f}", f"{f['last']:.2f}",
                     f"{f['commits'] / n:.2f}", calls))
    table(f"Batch journal: {n} prompts (seconds from start)",
          ["way", "first create", "last create", "fsync'd commits/job", "fsync calls/job"],
          rows)
    after, before = ways["after"], ways["before"]
    per_job = (after["fsyncs"] if after["fsyncs"] is not None else after["commits"]) / n
    checks = [
        Check(NAME, "first create after start (group commit)", f"{after['first']:.3f} s",
              f"<= {FIRST_CREATE_TARGET} s", after["first"] <= FIRST_CREATE_TARGET),
        Check(NAME, "  same, per-job journal (before)", f"{before['first']:.3f} s"),
        Check(NAME, "fsyncs per job (group commit)", f"{per_job:.2f}", f"<= {FSYNC_TARGET:g}",
              per_job <= FSYNC_TARGET),
        Check(NAME, "  same, per-job journal (before)",
              f"{(before['fsyncs'] or before['commits']) / n:.2f}"),
    ]
    return Outcome(NAME, checks, {"n": n, "ways": ways})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        bench_main(run, __doc__)
