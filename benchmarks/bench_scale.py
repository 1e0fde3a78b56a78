"""Scale: 10,000, 50,000 and 100,000 concurrent `wait_images` waiters -> RSS, loop lag, refresh.

The fake runs in a child process, so the RSS and the loop lag are the client's alone. All
prompts finish together after `prompt_seconds`. RSS is sampled from a thread: the target
applies to the growth while every waiter is still waiting (up to the first return); the
growth until all returned is shown too (it includes the result objects the caller holds). A
ticker task measures sleep overshoot over the whole run; the board reports its longest
refresh (one tick: every page and single GET of all watched ids). For comparison 10,000
prompts are also awaited through one `client.as_completed` (the targets apply to the
separate waiters).

Floors measured in the same run: bare asyncio for the same pattern (one `gather` starting
n tasks that each await a future of their own; its lag max is the pass of the loop that runs
every task's first step) and the fake's own CPU for one refresh (the fake serves on one
core, so no refresh can be faster). The garbage collector's full passes are timed too, for
ours and the floor: until every wait started, and after (at 100,000 waiters each walks ~1M
objects, a few hundred ms, wherever it falls). `--sizes 10000,100000` runs only those sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import sys
import time
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
# Issue #16's targets: (RSS growth MB, loop lag p99 ms, loop lag max ms) per waiter count;
# at every size one refresh must take well inside one interval (half of it here).
TARGETS = {10_000: (40.0, 10.0, None), 50_000: (125.0, None, 100.0),
           100_000: (250.0, None, 100.0), 2000: (8.0, 10.0, None)}
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
            with RssSampler() as total, RssSampler() as waiting, FullCollections() as full:

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
        board = client._prompt_board
        # (getattr: the same script measures older versions without `longest_tick`)
        longest = getattr(board, "longest_tick", float("nan"))
        ticks, board_requests = board.ticks, board.requests
    return {"waiters": len(ids), "interval": interval, "rss_start_mb": total.start_mb,
            "rss_waiting_growth_mb": waiting.growth_mb, "rss_growth_mb": total.growth_mb,
            "lag_p50_ms": lag.p(50), "lag_p99_ms": lag.p(99), "lag_max_ms": max(lag.lags_ms),
            "lag_max_after_start_ms": after_start(lag, started),
            **full.split(lag, started),
            "lag_samples": len(lag.lags_ms), "elapsed": elapsed, "ticks": ticks,
            "board_requests": board_requests, "longest_tick": longest}


class FullCollections:
    """The garbage collector's full (oldest-generation) passes: when each ended, and its ms.

    A full pass walks every tracked object (~10 a waiter, the caller's task included), so
    at 100,000 waiters each one holds the loop for a few hundred ms wherever it falls.
    """

    def __init__(self) -> None:
        self.passes: list[tuple[float, float]] = []
        self._began = 0.0

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.passes.append((time.monotonic(), (time.perf_counter() - self._began) * 1000))

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._note)

    def split(self, lag: LoopLag, started: float, prefix: str = "") -> dict[str, float]:
        """Total ms of the passes until every wait started (as `after_start` splits the
        lag), and the count and longest of those after."""
        later = [t for t in lag.times if t > started]
        edge = later[0] if later else math.inf
        return {f"{prefix}gc_start_ms": sum(ms for t, ms in self.passes if t <= edge),
                f"{prefix}gc_after_n": sum(1 for t, _ in self.passes if t > edge),
                f"{prefix}gc_after_max_ms": max((ms for t, ms in self.passes if t > edge),
                                                default=0.0)}


def after_start(lag: LoopLag, started: float) -> float:
    """The longest lag once every wait has started: past the first sample after `started`,
    which is late by the pass of the loop that ran the first step of every task at once
    (the caller's `gather`, whatever the waits cost after it)."""
    later = [ms for t, ms in zip(lag.times, lag.lags_ms, strict=True) if t > started]
    return max(later[1:], default=math.nan)


def measure(url: str, key: str, ids: list[int], interval: float, prompt_seconds: float,
            mode: str, plots: bool) -> dict[str, Any]:
    """`waiters` in a child interpreter."""
    _common.PLOTS = plots
    return asyncio.run(waiters(url, key, ids, interval, prompt_seconds, mode))


async def bare(n: int, hold: float) -> dict[str, Any]:
    """The floor of the same pattern in bare asyncio: `n` tasks started by one `gather`,
    each making and awaiting a future of its own, all resolved after `hold` seconds
    (chunked as the board wakes its waiters). Its loop lag and RSS are the caller's share
    of ours: the least any library can cost for this pattern."""
    from astria_async import _config

    chunk = getattr(_config, "WAKE_CHUNK", 128)  # (getattr: older versions have none)
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[int]] = []
    gc.collect()

    async def wait() -> int:
        future: asyncio.Future[int] = loop.create_future()
        futures.append(future)
        return await future

    async def resolve() -> None:
        await asyncio.sleep(hold)
        for i, future in enumerate(futures):
            future.set_result(i)
            if i % chunk == chunk - 1:
                await asyncio.sleep(0)

    async with LoopLag() as lag:
        with RssSampler() as total, FullCollections() as full:
            started = loop.time()
            resolver = asyncio.create_task(resolve())
            await asyncio.gather(*(wait() for _ in range(n)))
            await resolver
    return {"bare_lag_max_ms": max(lag.lags_ms), "bare_lag_p99_ms": lag.p(99),
            "bare_lag_max_after_start_ms": after_start(lag, started),
            "bare_rss_growth_mb": total.growth_mb, **full.split(lag, started, "bare_")}


def measure_bare(n: int, hold: float) -> dict[str, Any]:
    """`bare` in a child interpreter."""
    return asyncio.run(bare(n, hold))


def one_size(n: int, interval: float, prompt_seconds: float,
             mode: str) -> dict[str, Any]:
    """`n` prompts awaited one way, against a fresh fake in a child process."""
    with remote_fake(tunes=10, prompts=n, prompt_seconds=prompt_seconds) as remote, \
            ProcessPoolExecutor(1, mp_context=get_context("spawn")) as fresh:
        # A fresh interpreter per way: RSS freed by one run would hide the next one's.
        cpu = remote.ask("cpu")
        result: dict[str, Any] = fresh.submit(
            measure, remote.url, remote.api_key, remote.prompts, interval, prompt_seconds,
            mode, _common.PLOTS and n == 10_000).result()
        cpu = remote.ask("cpu") - cpu
        result["requests"] = remote.ask("count * *")
    # The server-side floor of a refresh: the fake's CPU per request it served, times the
    # requests of an average refresh (almost all are list pages). The fake runs on one core.
    per_tick = result["board_requests"] / max(1, result["ticks"])
    result["server_cpu_per_request_ms"] = cpu / max(1, result["requests"]) * 1000
    result["server_floor_s"] = cpu / max(1, result["requests"]) * per_tick
    if mode == PER_WAITER:
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as fresh:
            result.update(fresh.submit(measure_bare, n, 2.0).result())
    return result


SIZES: tuple[int, ...] | None = None  # `--sizes`: only these waiter counts


def run(quick: bool) -> Outcome:
    """10,000, 50,000 and 100,000 waiters (2,000 in --quick), and one `as_completed`."""
    interval = 0.5 if quick else 1.0
    sizes = SIZES or ((2000,) if quick else (10_000, 50_000, 100_000))
    note(f"prompts on 10 tunes, fixed interval {interval} s, all finish after a few intervals "
         "(more at the larger sizes, so that several refreshes happen while all wait); "
         "fake in a child process (a fresh one per run)")
    data: dict[str, Any] = {}
    for n in sizes:
        prompt_seconds = 3.0 if quick else 10.0 if n <= 10_000 else 20.0
        data[str(n)] = one_size(n, interval, prompt_seconds, PER_WAITER)
    ref = 2000 if quick else 10_000  # one as_completed over the smallest default size
    runs = [data[str(n)] for n in sizes]
    heads = [f"{n:,} {PER_WAITER}" for n in sizes]
    if ref in sizes:
        data["as_completed"] = one_size(ref, interval, 3.0 if quick else 10.0, ONE_ITERATOR)
        runs.append(data["as_completed"])
        heads.append(f"{ref:,} {ONE_ITERATOR}")

    def row(label: str, fmt_: str, key: str, per: bool = False) -> tuple[str, ...]:
        return (label, *(fmt_.format(r.get(key, math.nan) * (1024 / r["waiters"] if per else 1))
                         for r in runs))

    table("Scale: prompts awaited at once", ["figure", *heads], [
        row("RSS before waits (MB)", "{:.1f}", "rss_start_mb"),
        row("RSS growth, peak while all wait (MB)", "{:.1f}", "rss_waiting_growth_mb"),
        row("  per prompt (KB)", "{:.2f}", "rss_waiting_growth_mb", per=True),
        row("RSS growth, peak until all returned (MB)", "{:.1f}", "rss_growth_mb"),
        row("loop lag p50 (ms)", "{:.1f}", "lag_p50_ms"),
        row("loop lag p99 (ms)", "{:.1f}", "lag_p99_ms"),
        row("loop lag max (ms)", "{:.1f}", "lag_max_ms"),
        row("  after every wait started (ms)", "{:.1f}", "lag_max_after_start_ms"),
        row("full GC passes until every wait started (ms, total)", "{:.0f}", "gc_start_ms"),
        row("full GC passes after: how many", "{:.0f}", "gc_after_n"),
        row("  the longest (ms)", "{:.0f}", "gc_after_max_ms"),
        row("longest refresh (s)", "{:.2f}", "longest_tick"),
        row("  server floor: the fake's CPU for one refresh (s)", "{:.2f}", "server_floor_s"),
        row("  the fake's CPU per request (ms)", "{:.2f}", "server_cpu_per_request_ms"),
        row("time until all returned (s)", "{:.2f}", "elapsed"),
        row("board ticks", "{:.0f}", "ticks"),
        row("requests seen by the fake", "{:.0f}", "requests"),
        row("floor: bare asyncio, same gather: RSS growth (MB)", "{:.1f}", "bare_rss_growth_mb"),
        row("floor: bare asyncio, same gather: lag max (ms)", "{:.1f}", "bare_lag_max_ms"),
        row("  after every wait started (ms)", "{:.1f}", "bare_lag_max_after_start_ms"),
        row("  full GC passes until every wait started (ms, total)", "{:.0f}",
            "bare_gc_start_ms"),
    ])
    checks = []
    for n in sizes:
        r = data[str(n)]
        rss, p99, top = TARGETS.get(n, (math.inf, None, 100.0))
        grow = r["rss_waiting_growth_mb"]
        checks.append(Check(NAME, f"RSS growth, {n:,} waiters waiting",
                            f"{grow:.1f} MB ({grow * 1024 / n:.2f} KB each)",
                            f"<= {rss:.0f} MB", grow <= rss))
        if p99 is not None:
            checks.append(Check(NAME, f"  event-loop lag p99, {n:,} waiters",
                                f"{r['lag_p99_ms']:.1f} ms", f"<= {p99:.0f} ms",
                                r["lag_p99_ms"] <= p99))
        if top is not None:
            checks.append(Check(NAME, f"  event-loop lag max, {n:,} waiters",
                                f"{r['lag_max_ms']:.1f} ms (bare asyncio floor "
                                f"{r['bare_lag_max_ms']:.0f} ms; after the start "
                                f"{r['lag_max_after_start_ms']:.0f} ms, longest full GC "
                                f"pass then {r['gc_after_max_ms']:.0f} ms)", f"<= {top:.0f} ms",
                                r["lag_max_ms"] <= top))
        checks.append(Check(NAME, f"  longest refresh, {n:,} waiters",
                            f"{r['longest_tick']:.2f} s (server floor "
                            f"{r['server_floor_s']:.2f} s)", f"<= {interval / 2:g} s",
                            r["longest_tick"] <= interval / 2))
    b = data.get("as_completed")
    if b is not None:
        checks.append(Check(NAME, f"  one as_completed over {ref:,}: RSS growth / lag p99",
                            f"{b['rss_waiting_growth_mb']:.1f} MB / {b['lag_p99_ms']:.1f} ms"))
    return Outcome(NAME, checks, data)


def take_sizes() -> None:
    """`--sizes 10000,100000`: run only these sizes (taken out before the shared flags)."""
    global SIZES
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--sizes", type=lambda text: tuple(int(n) for n in text.split(",")))
    known, sys.argv[1:] = pre.parse_known_args()
    SIZES = known.sizes


if __name__ == "__main__":
    take_sizes()
    bench_main(run, __doc__)
