"""Scale: 10,000 concurrent `wait_images` waiters -> RSS growth and event-loop lag p99.

The fake runs in a child process, so the RSS and the loop lag are the client's alone. All
prompts finish together after `prompt_seconds`. RSS is sampled from a thread: the target
applies to the growth while every waiter is still waiting (up to the first return); the
growth until all returned is shown too (it includes the 10,000 result objects the caller
holds). A ticker task measures sleep overshoot over the whole run.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

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


async def waiters(url: str, key: str, ids: list[int], interval: float,
                  prompt_seconds: float) -> dict[str, Any]:
    """Start one wait per id at once; measure while they wait and finish."""
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

                started = loop.time()
                done = await asyncio.gather(*(wait(pid) for pid in ids))
                elapsed = loop.time() - started
        assert all(p.images for p in done)
        plot_panels(NAME, f"{len(ids)} concurrent waiters (all finish at {prompt_seconds:g} s)",
                    "seconds since the waits started", [
                        ("RSS growth (MB)", [t - started for t, _ in total.timeline],
                         [mb - total.start_mb for _, mb in total.timeline]),
                        ("loop lag (ms)", [t - started for t in lag.times], lag.lags_ms)])
        ticks, board_requests = client._prompt_board.ticks, client._prompt_board.requests
    return {"waiters": len(ids), "interval": interval, "rss_start_mb": total.start_mb,
            "rss_waiting_growth_mb": waiting.growth_mb, "rss_growth_mb": total.growth_mb,
            "lag_p50_ms": lag.p(50), "lag_p99_ms": lag.p(99), "lag_max_ms": max(lag.lags_ms),
            "lag_samples": len(lag.lags_ms), "elapsed": elapsed, "ticks": ticks,
            "board_requests": board_requests}


def run(quick: bool) -> Outcome:
    """10,000 waiters (2,000 in --quick)."""
    n, interval, prompt_seconds = (2000, 0.5, 3.0) if quick else (10_000, 1.0, 10.0)
    note(f"{n} waiters on 10 tunes, fixed interval {interval} s, all finish after "
         f"{prompt_seconds} s; fake in a child process")
    with remote_fake(tunes=10, prompts=n, prompt_seconds=prompt_seconds) as remote:
        res = asyncio.run(waiters(remote.url, remote.api_key, remote.prompts, interval,
                                  prompt_seconds))
        res["requests"] = remote.ask("count * *")
    table(f"Scale: {n} concurrent waiters", ["figure", "value"], [
        ("RSS before waits (MB)", f"{res['rss_start_mb']:.1f}"),
        ("RSS growth, peak while all wait (MB)", f"{res['rss_waiting_growth_mb']:.1f}"),
        ("  per waiter (KB)", f"{res['rss_waiting_growth_mb'] * 1024 / n:.2f}"),
        ("RSS growth, peak until all returned (MB)", f"{res['rss_growth_mb']:.1f}"),
        ("loop lag p50 / p99 / max (ms)",
         f"{res['lag_p50_ms']:.1f} / {res['lag_p99_ms']:.1f} / {res['lag_max_ms']:.1f}"),
        ("time until all returned (s)", f"{res['elapsed']:.2f}"),
        ("board ticks / requests", f"{res['ticks']} / {res['board_requests']}"),
        ("requests seen by the fake", f"{res['requests']}"),
    ])
    grow = res["rss_waiting_growth_mb"]
    checks = [
        Check(NAME, f"RSS growth, {n} waiters waiting", f"{grow:.1f} MB",
              f"<= {RSS_TARGET:.0f} MB", grow <= RSS_TARGET),
        Check(NAME, "  RSS growth until all returned (holds the results)",
              f"{res['rss_growth_mb']:.1f} MB"),
        Check(NAME, f"event-loop lag p99 with {n} waiters", f"{res['lag_p99_ms']:.1f} ms",
              f"<= {LAG_TARGET:.0f} ms", res["lag_p99_ms"] <= LAG_TARGET),
    ]
    return Outcome(NAME, checks, res)


if __name__ == "__main__":
    bench_main(run, __doc__)
