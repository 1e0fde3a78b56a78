"""Overhead: N `GET /tunes/:id` + parse through AstriaClient vs raw aiohttp at the same concurrency.

Runs are interleaved (raw, client, client, raw, ...) and the median of several repetitions is
reported, once with the fake in this process and loop (how users test) and once with the fake
in a child process (the client's own cost). Below target, the client run is profiled.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
from collections.abc import Awaitable, Callable
from typing import Any

import _common
import aiohttp
from _common import (
    Check,
    Outcome,
    bench_main,
    fmt,
    local_fake,
    median,
    note,
    remote_fake,
    seed,
    table,
)

from astria_async import AstriaClient

NAME = "overhead"
TARGET = 0.90
CONCURRENCY = 32  # AstriaClient's default max_concurrency
Runner = Callable[[], Awaitable[float]]


async def drive(n: int, concurrency: int, one: Callable[[int], Awaitable[Any]],
                ids: list[int]) -> float:
    """`n` calls spread over `concurrency` workers; returns requests per second."""
    loop = asyncio.get_running_loop()
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await one(ids[i % len(ids)])

    started = loop.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (loop.time() - started)


def runners(url: str, key: str, ids: list[int], n: int) -> tuple[Runner, Runner, Any]:
    """The raw-aiohttp and AstriaClient runs over fresh sessions, plus a closer."""
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    client = AstriaClient(api_key=key, base_url=url, max_concurrency=CONCURRENCY)

    async def raw_get(tune_id: int) -> Any:
        async with session.get(f"{url}/tunes/{tune_id}", headers=headers) as resp:
            return await resp.json()

    async def raw() -> float:
        return await drive(n, CONCURRENCY, raw_get, ids)

    async def lib() -> float:
        return await drive(n, CONCURRENCY, client.tunes.get, ids)

    async def close() -> None:
        await session.close()
        await client.aclose()

    return raw, lib, close


async def compare(url: str, key: str, ids: list[int], n: int, reps: int,
                  ) -> dict[str, Any]:
    """Warm both paths, then interleave `reps` pairs; medians and the ratio of medians."""
    raw, lib, close = runners(url, key, ids, n)
    try:
        await raw()
        await lib()
        raws: list[float] = []
        libs: list[float] = []
        for rep in range(reps):
            order = (raw, lib) if rep % 2 == 0 else (lib, raw)
            for run in order:
                (raws if run is raw else libs).append(await run())
    finally:
        await close()
    ratio = median(libs) / median(raws)
    pairs = [lo / r for lo, r in zip(libs, raws, strict=True)]
    return {"raw_rps": raws, "client_rps": libs, "raw_median": median(raws),
            "client_median": median(libs), "ratio": ratio, "pair_ratios": pairs}


async def in_process(n: int, reps: int) -> dict[str, Any]:
    """Fake and client share one loop (how users test)."""
    async with local_fake() as fake:
        tunes, _ = seed(fake, 10, 0)
        return await compare(fake.url, fake.api_key, tunes, n, reps)


async def profile_client(url: str, key: str, ids: list[int], n: int) -> dict[str, Any]:
    """cProfile one client run and one raw run; where the client's extra time goes."""
    raw, lib, close = runners(url, key, ids, n)
    out: dict[str, Any] = {}
    try:
        await raw()
        await lib()
        for label, run in (("raw", raw), ("client", lib)):
            prof = cProfile.Profile()
            prof.enable()
            await run()
            prof.disable()
            out[label] = prof
    finally:
        await close()
    return attribute(out["client"], out["raw"], n)


def attribute(client: cProfile.Profile, raw: cProfile.Profile, n: int) -> dict[str, Any]:
    """Per-request CPU (µs) of each run, and the client's own functions by time."""
    cstats, rstats = pstats.Stats(client), pstats.Stats(raw)
    per_req = {"client_us": cstats.total_tt / n * 1e6,  # type: ignore[attr-defined]
               "raw_us": rstats.total_tt / n * 1e6}  # type: ignore[attr-defined]
    rows = []
    for (path, line, func), (_, calls, tt, ct, _) in cstats.stats.items():  # type: ignore[attr-defined]
        if any(part in path for part in ("astria_async", "cattrs", "attr", "_strptime",
                                         "datetime", "json")):
            rows.append({"where": f"{path.rsplit('site-packages/', 1)[-1]}:{line}({func})",
                         "calls_per_req": calls / n, "self_us": tt / n * 1e6,
                         "cum_us": ct / n * 1e6})
    rows.sort(key=lambda r: -r["self_us"])
    text = io.StringIO()
    pstats.Stats(client, stream=text).sort_stats("tottime").print_stats(25)
    return {**per_req, "client_functions": rows[:20], "pstats_top": text.getvalue()}


def run(quick: bool) -> Outcome:
    """Both placements; profile if the target is missed."""
    n, reps = (1500, 3) if quick else (10_000, 7)
    note(f"{n} GET /tunes/:id per run, concurrency {CONCURRENCY}, {reps} interleaved pairs")
    data: dict[str, Any] = {"n": n, "reps": reps, "concurrency": CONCURRENCY}
    data["in_process"] = asyncio.run(in_process(n, reps))
    with remote_fake(tunes=10) as remote:
        data["separate_process"] = asyncio.run(
            compare(remote.url, remote.api_key, remote.tunes, n, reps))
        if min(data["in_process"]["ratio"], data["separate_process"]["ratio"]) < TARGET \
                or _common.PROFILE:
            data["profile"] = asyncio.run(profile_client(
                remote.url, remote.api_key, remote.tunes, n))
    rows = []
    checks = []
    for key, label in (("in_process", "fake in same loop"),
                       ("separate_process", "fake in child process")):
        res = data[key]
        rows.append((label, fmt(res["raw_median"], 0), fmt(res["client_median"], 0),
                     fmt(res["ratio"], 3), " ".join(f"{r:.2f}" for r in res["pair_ratios"])))
        checks.append(Check(NAME, f"throughput vs raw aiohttp ({label})",
                            f"{res['ratio']:.3f}", f">= {TARGET}", res["ratio"] >= TARGET))
    table(f"Overhead: GET /tunes/:id + parse, concurrency {CONCURRENCY} (req/s, medians)",
          ["placement", "raw aiohttp", "AstriaClient", "ratio", "per-pair ratios"], rows)
    if "profile" in data:
        prof = data["profile"]
        note(f"profile (fake in child process): client {prof['client_us']:.0f} µs CPU/request, "
             f"raw {prof['raw_us']:.0f} µs")
        table("Client-side functions by self time (µs per request)",
              ["function", "calls/req", "self µs", "cum µs"],
              [(r["where"][-70:], f"{r['calls_per_req']:.1f}", f"{r['self_us']:.1f}",
                f"{r['cum_us']:.1f}") for r in prof["client_functions"][:12]])
    return Outcome(NAME, checks, data)


if __name__ == "__main__":
    bench_main(run, __doc__)
