"""Batch makespan: 200 prompts end to end (create -> wait -> download) on 10 trained tunes.

Compared with the physical limit (the fake's processing time plus one poll interval) and with
a sequential per-prompt loop that polls every 2.5 s, as the community SDK does. The library
runs twice: plain calls (`create`, `wait_images`, `download` per prompt, all at once) and
`BatchRunner` (SQLite journal) with concurrency 200. Both wait with a fixed 2 s interval and
the fair-use guard's in-flight bounds lifted (its defaults, 8 per tune and 64 in all, would run
200 prompts in several waves by design); the per-tune cap (21) still applies.

The sequential loop takes ~200 x the processing time, so it runs on a few prompts and is
extrapolated linearly (it is sequential, so that is exact up to noise). Time is scaled with
the fake's clock: durations and both poll intervals are in fake seconds divided by the time
scale (1 in a full run, 30 in --quick).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from _common import Check, Outcome, bench_main, note, remote_fake, table

from astria_async import AstriaClient, WaitPolicy
from astria_async.batch import BatchRunner, job_from_spec
from astria_async.params import PromptParams

NAME = "batch"
TARGET = 1.15
PROMPT_SECONDS = 30.0  # fake seconds: a typical Flux image prompt
INTERVAL = 2.0  # fake seconds: the library's default first prompt interval
SDK_INTERVAL = 2.5  # fake seconds: the community SDK's poll


def client_for(url: str, key: str, policy: WaitPolicy) -> AstriaClient:
    """A client whose waits use `policy`, with the fair-use in-flight bounds lifted."""
    from astria_async import FairUsePolicy

    return AstriaClient(api_key=key, base_url=url, prompt_wait=policy,
                        fair_use=FairUsePolicy(max_in_flight=None, max_in_flight_per_tune=None))


FLUX_DEV = 1504944  # LoRA prompts are posted to the base model (API notes §5.1)


def texts(n: int, tag: str, tunes: list[int]) -> list[str]:
    """Distinct LoRA prompt texts spread over `tunes` (identical ones would be deduplicated)."""
    return [f"<lora:{tunes[i % len(tunes)]}:1> ohwx man, {tag} portrait {i}" for i in range(n)]


async def plain(url: str, key: str, tunes: list[int], n: int, policy: WaitPolicy,
                out: Path) -> dict[str, float]:
    """create -> wait_images -> download for every prompt at once; when each phase ended."""
    async with client_for(url, key, policy) as client:
        loop = asyncio.get_running_loop()
        ends: dict[str, float] = {"created": 0.0, "finished": 0.0, "downloaded": 0.0}

        def mark(phase: str) -> None:
            ends[phase] = max(ends[phase], loop.time() - started)

        async def one(text: str) -> None:
            prompt = await client.prompts.create(FLUX_DEV, text=text, num_images=1)
            mark("created")
            prompt = await client.prompts.wait_images(prompt)
            mark("finished")
            await client.prompts.download(prompt, out)
            mark("downloaded")

        started = loop.time()
        await asyncio.gather(*(one(t) for t in texts(n, "plain", tunes)))
        return ends


async def batch_runner(url: str, key: str, tunes: list[int], n: int, policy: WaitPolicy,
                       out: Path) -> float:
    """The same through `BatchRunner` (journal in `out`); seconds."""
    jobs = [job_from_spec({"tune_id": FLUX_DEV, "text": t, "num_images": 1})
            for t in texts(n, "batch", tunes)]
    async with client_for(url, key, policy) as client:
        runner = BatchRunner(client, out / "state.db", out / "images", concurrency=n)
        loop = asyncio.get_running_loop()
        started = loop.time()
        summary = await runner.run(jobs)
        elapsed = loop.time() - started
    assert summary.counts.get("done") == n, summary.counts
    return elapsed


async def sequential(url: str, key: str, tunes: list[int], k: int, poll: float,
                     out: Path) -> float:
    """The community SDK's loop on `k` prompts: create, poll every `poll` s, download; seconds."""
    async with AstriaClient(api_key=key, base_url=url, fair_use=None) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for text in texts(k, "sequential", tunes):
            params = PromptParams(text=text, num_images=1)
            prompt = await client.prompts.create_from(FLUX_DEV, params)
            while not prompt.is_finished:
                await asyncio.sleep(poll)
                prompt = await client.prompts.get(prompt)
            await client.prompts.download(prompt, out)
        return loop.time() - started


def run(quick: bool) -> Outcome:
    """200 prompts; the sequential loop on 3 (extrapolated)."""
    n, sample, scale = 200, 3, (30.0 if quick else 1.0)
    work, interval, poll = PROMPT_SECONDS / scale, INTERVAL / scale, SDK_INTERVAL / scale
    policy = WaitPolicy(interval=interval, multiplier=1.0, max_interval=interval,
                        timeout=work * 10 + 60)
    limit = work + interval
    note(f"{n} prompts on 10 tunes; processing {PROMPT_SECONDS:g} s, library interval "
         f"{INTERVAL:g} s, SDK poll {SDK_INTERVAL:g} s (fake seconds), time scale {scale:g}: "
         f"{work:.3g} s / {interval:.3g} s / {poll:.3g} s real; fake in a child process")
    root = Path(tempfile.mkdtemp(prefix="astria-bench-batch-"))
    try:
        # Ten fresh tunes per way: the fair-use cap (21 prompts per tune) counts earlier runs.
        with remote_fake(tunes=30, prompt_seconds=PROMPT_SECONDS, time_scale=scale) as fake:
            url, key, tunes = fake.url, fake.api_key, fake.tunes
            phases = asyncio.run(plain(url, key, tunes[:10], n, policy, root / "plain"))
            times = {
                "library (plain calls)": phases["downloaded"],
                "library (BatchRunner)": asyncio.run(
                    batch_runner(url, key, tunes[10:20], n, policy, root / "runner")),
            }
            seq = asyncio.run(sequential(url, key, tunes[20:], sample, poll,
                                         root / "sequential"))
            times[f"sequential SDK loop (x{n}/{sample})"] = seq * n / sample
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [("physical limit (processing + 1 interval)", f"{limit:.2f}", "1.00")]
    rows += [(label, f"{t:.2f}", f"{t / limit:.2f}") for label, t in times.items()]
    table(f"Batch makespan: {n} prompts end to end (real seconds)",
          ["way", "seconds", "x limit"], rows)
    note("plain calls: last create answered at {created:.2f} s, last wait returned at "
         "{finished:.2f} s, last download done at {downloaded:.2f} s".format(**phases))
    plain_x = times["library (plain calls)"] / limit
    runner_x = times["library (BatchRunner)"] / limit
    seq_total = times[f"sequential SDK loop (x{n}/{sample})"]
    checks = [
        Check(NAME, "makespan vs physical limit (plain calls)", f"{plain_x:.2f}x",
              f"<= {TARGET}x", plain_x <= TARGET),
        Check(NAME, "makespan vs physical limit (BatchRunner)", f"{runner_x:.2f}x",
              f"<= {TARGET}x", runner_x <= TARGET),
        Check(NAME, "  speed-up vs sequential SDK loop (extrapolated)",
              f"{seq_total / times['library (plain calls)']:.0f}x"),
        Check(NAME, "  phases (plain): created / finished / downloaded",
              "{created:.2f} / {finished:.2f} / {downloaded:.2f} s".format(**phases)),
    ]
    data: dict[str, Any] = {"n": n, "sequential_sample": sample, "time_scale": scale,
                            "limit": limit, "seconds": times, "plain_phases": phases,
                            "sequential_sample_seconds": seq}
    return Outcome(NAME, checks, data)


if __name__ == "__main__":
    bench_main(run, __doc__)
