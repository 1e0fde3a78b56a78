"""Scale: 10,000 concurrent `wait_images` waiters -> RSS growth and event-loop lag p99.

The fake runs in a child process, so the RSS and the loop lag are the client's alone. All
prompts finish together after `prompt_seconds`. RSS is sampled from a thread: the target
applies to the growth while every waiter is still waiting (up to the first return); the
growth until all returned is shown too (it includes the 10,000 result objects the caller
holds). A ticker task measures sleep overshoot over the whole run. For comparison the same
number of prompts is then awaited through one `client.as_completed` (the targets apply to the
10,000 separate waiters).
"""

from __future__ import annotations

import asyncio
import gc
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import _common
from _common import (
    Check,
    LoopLag,
    Outcome,
    RssSampler,
    bench_main,
    note,
    plot_panels,
    remote_fake,
    table,
)

from astria_async import AstriaClient, Prompt, WaitPolicy

NAME = "scale"
RSS_TARGET = 100.0
LAG_TARGET = 20.0
PER_WAITER, ONE_ITERATOR = "a wait_images each", "one as_completed"


async def waiters(url: str, key: str, ids: list[int], interval: float,
                  prompt_seconds: float, mode: str) -> dict[str, Any]:
    """All ids awaited at once (`mode`: a `wait_images` each, or one `as_completed`)."""
    policy = WaitPolicy(interval=interval, multiplier=1.0, max_interval=interval,
                        timeout=prompt_seconds + 120)
    async with AstriaClient(api_key=key, base_url=url, fair_use=None) as client:
        await client.tunes.list(limit=1)  # the session and its pool exist before the baseline
        gc.collect()
        loop = asyncio.get_running_loop()
        async with LoopLag() as lag:
            with RssSampler() as total, RssSampler() as waiting:

                async def wait(pid: int) -> Prompt:
                    prompt = await client.prompts.wait_images(pid, policy=policy)
                    waiting.stop()  # the first return ends the "all waiting" phase
                    return prompt

                async def completed() -> list[Prompt]:
                    out = []
                    async for prompt in client.as_completed(ids, policy=policy):
                        waiting.stop()
                        out.append(prompt)
                    return out

                started = loop.time()
                if mode == PER_WAITER:
                    done = await asyncio.gather(*(wait(pid) for pid in ids))
                else:
                    done = await completed()
                elapsed = loop.time() - started
        assert len(done) == len(ids) and all(p.images for p in done)
        if mode == PER_WAITER:
            plot_panels(NAME, f"{len(ids)} concurrent waiters (all finish at "
                        f"{prompt_seconds:g} s)", "seconds since the waits started", [
                            ("RSS growth (MB)", [t - started for t, _ in total.timeline],
                             [mb - total.start_mb for _, mb in total.timeline]),
                            ("loop lag (ms)", [t - started for t in lag.times], lag.lags_ms)])
        ticks, board_requests = client._prompt_board.ticks, client._prompt_board.requests
    return {"waiters": len(ids), "interval": interval, "rss_start_mb": total.start_mb,
            "rss_waiting_growth_mb": waiting.growth_mb, "rss_growth_mb": total.growth_mb,
            "lag_p50_ms": lag.p(50), "lag_p99_ms": lag.p(99), "lag_max_ms": max(lag.lags_ms),
            "lag_samples": len(lag.lags_ms), "elapsed": elapsed, "ticks": ticks,
            "board_requests": board_requests}


def measure(url: str, key: str, ids: list[int], interval: float, prompt_seconds: float,
            mode: str, plots: bool) -> dict[str, Any]:
    """`waiters` in a child interpreter."""
    _common.PLOTS = plots
    return asyncio.run(waiters(url, key, ids, interval, prompt_seconds, mode))


def run(quick: bool) -> Outcome:
    """10,000 waiters (2,000 in --quick), then the same ids through one `as_completed`."""
    n, interval, prompt_seconds = (2000, 0.5, 3.0) if quick else (10_000, 1.0, 10.0)
    note(f"{n} prompts on 10 tunes, fixed interval {interval} s, all finish after "
         f"{prompt_seconds} s; fake in a child process (a fresh one per way)")
    data: dict[str, Any] = {}
    for mode in (PER_WAITER, ONE_ITERATOR):
        with remote_fake(tunes=10, prompts=n, prompt_seconds=prompt_seconds) as remote, \
                ProcessPoolExecutor(1, mp_context=get_context("spawn")) as fresh:
            # A fresh interpreter per way: RSS freed by one run would hide the next one's.
            data[mode] = fresh.submit(measure, remote.url, remote.api_key, remote.prompts,
                                      interval, prompt_seconds, mode, _common.PLOTS).result()
            data[mode]["requests"] = remote.ask("count * *")
    a, b = data[PER_WAITER], data[ONE_ITERATOR]

    def both(fmt_: str, key: str, scale: float = 1.0) -> tuple[str, str]:
        return fmt_.format(a[key] * scale), fmt_.format(b[key] * scale)

    table(f"Scale: {n} prompts awaited at once", ["figure", PER_WAITER, ONE_ITERATOR], [
        ("RSS before waits (MB)", *both("{:.1f}", "rss_start_mb")),
        ("RSS growth, peak while all wait (MB)", *both("{:.1f}", "rss_waiting_growth_mb")),
        ("  per prompt (KB)", *both("{:.2f}", "rss_waiting_growth_mb", 1024 / n)),
        ("RSS growth, peak until all returned (MB)", *both("{:.1f}", "rss_growth_mb")),
        ("loop lag p50 (ms)", *both("{:.1f}", "lag_p50_ms")),
        ("loop lag p99 (ms)", *both("{:.1f}", "lag_p99_ms")),
        ("loop lag max (ms)", *both("{:.1f}", "lag_max_ms")),
        ("time until all returned (s)", *both("{:.2f}", "elapsed")),
        ("board ticks", *both("{:.0f}", "ticks")),
        ("requests seen by the fake", *both("{:.0f}", "requests")),
    ])
    grow = a["rss_waiting_growth_mb"]
    checks = [
        Check(NAME, f"RSS growth, {n} waiters waiting", f"{grow:.1f} MB",
              f"<= {RSS_TARGET:.0f} MB", grow <= RSS_TARGET),
        Check(NAME, "  RSS growth until all returned (holds the results)",
              f"{a['rss_growth_mb']:.1f} MB"),
        Check(NAME, f"event-loop lag p99 with {n} waiters", f"{a['lag_p99_ms']:.1f} ms",
              f"<= {LAG_TARGET:.0f} ms", a["lag_p99_ms"] <= LAG_TARGET),
        Check(NAME, f"  one as_completed over {n}: RSS growth / lag p99",
              f"{b['rss_waiting_growth_mb']:.1f} MB / {b['lag_p99_ms']:.1f} ms"),
    ]
    return Outcome(NAME, checks, data)


if __name__ == "__main__":
    bench_main(run, __doc__)
