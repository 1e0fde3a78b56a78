"""Downloads: 200 x 1 MB images via `client.prompts.download` vs raw aiohttp streaming to disk.

Same concurrency for both (the client's `download_concurrency`, 8 by default). The raw
baseline is what one writes by hand: `session.get`, `iter_chunked`, blocking `write` into the
final file. A second baseline adds what the library does for safety (writes off the loop,
fsync, atomic rename), to show where a gap comes from. The fake runs in a child process, so
the peak extra RSS (sampled from a thread) is the client's own. Runs are interleaved; medians.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    Check,
    Outcome,
    RssSampler,
    bench_main,
    median,
    note,
    remote_fake,
    table,
)

from astria_async import AstriaClient, Prompt
from astria_async.download import CHUNK, DEFAULT_DOWNLOAD_CONCURRENCY

NAME = "downloads"
TARGET = 0.90
RSS_TARGET = 64.0
IMAGE_BYTES = 1_000_000
Run = Callable[[Path], Awaitable[None]]


def runs(client: AstriaClient, session: aiohttp.ClientSession,
         prompts: list[Prompt]) -> dict[str, Run]:
    """The three ways to fetch every image of `prompts` into a directory."""
    limit = asyncio.Semaphore(DEFAULT_DOWNLOAD_CONCURRENCY)
    urls = [url for p in prompts for url in p.images]

    async def library(folder: Path) -> None:
        await asyncio.gather(*(client.prompts.download(p, folder) for p in prompts))

    async def naive_one(url: str, path: Path) -> None:
        async with limit, session.get(url) as resp:
            resp.raise_for_status()
            with path.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    out.write(chunk)

    async def durable_one(url: str, path: Path) -> None:
        async with limit, session.get(url) as resp:
            resp.raise_for_status()
            part = path.with_suffix(".part")
            out = await asyncio.to_thread(part.open, "wb")
            with out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(out.flush)
                await asyncio.to_thread(os.fsync, out.fileno())
            await asyncio.to_thread(os.replace, part, path)

    def over_urls(one: Callable[[str, Path], Awaitable[None]]) -> Run:
        async def run(folder: Path) -> None:
            await asyncio.gather(*(one(url, folder / f"{i}.png") for i, url in enumerate(urls)))
        return run

    return {"library": library, "raw aiohttp": over_urls(naive_one),
            "raw + fsync, rename": over_urls(durable_one)}


async def measure(url: str, key: str, ids: list[int], reps: int) -> dict[str, Any]:
    """Warm up, then `reps` interleaved rounds; MB/s and peak extra RSS per run."""
    root = Path(tempfile.mkdtemp(prefix="astria-bench-dl-"))
    out: dict[str, dict[str, list[float]]] = {}
    try:
        async with AstriaClient(api_key=key, base_url=url, fair_use=None) as client, \
                aiohttp.ClientSession() as session:
            prompts = list(await asyncio.gather(*(client.prompts.get(i) for i in ids)))
            total = sum(len(p.images) for p in prompts) * IMAGE_BYTES / 1e6
            ways = runs(client, session, prompts)
            loop = asyncio.get_running_loop()
            for rep in range(reps + 1):  # round 0 warms the pools and the page cache
                order = list(ways.items()) if rep % 2 else list(reversed(ways.items()))
                for label, run in order:
                    folder = root / f"{rep}-{label.replace(' ', '_')}"
                    folder.mkdir()
                    with RssSampler(0.002) as rss:
                        started = loop.time()
                        await run(folder)
                        elapsed = loop.time() - started
                    assert sum(f.stat().st_size for f in folder.iterdir()) >= total * 1e6 * 0.99
                    shutil.rmtree(folder)
                    if rep:
                        res = out.setdefault(label, {"mb_s": [], "rss_mb": []})
                        res["mb_s"].append(total / elapsed)
                        res["rss_mb"].append(rss.growth_mb)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"total_mb": total, "runs": out}


def run(quick: bool) -> Outcome:
    """200 x 1 MB (60 in --quick)."""
    n, reps = (60, 2) if quick else (200, 5)
    note(f"{n} prompts x 1 image x {IMAGE_BYTES:,} bytes, concurrency "
         f"{DEFAULT_DOWNLOAD_CONCURRENCY}, {reps} interleaved rounds; fake in a child process")
    with remote_fake(tunes=10, prompts=n, prompt_seconds=0, image_bytes=IMAGE_BYTES) as remote:
        data = asyncio.run(measure(remote.url, remote.api_key, remote.prompts, reps))
    runs_ = data["runs"]
    base = median(runs_["raw aiohttp"]["mb_s"])
    table(f"Downloads: {data['total_mb']:.0f} MB per run (MB/s, medians; RSS: max over runs)",
          ["way", "MB/s", "vs raw", "peak extra RSS MB"],
          [(label, f"{median(r['mb_s']):.0f}", f"{median(r['mb_s']) / base:.2f}",
            f"{max(r['rss_mb']):.1f}") for label, r in runs_.items()])
    lib = median(runs_["library"]["mb_s"])
    ratio = lib / base
    durable = lib / median(runs_["raw + fsync, rename"]["mb_s"])
    rss = max(runs_["library"]["rss_mb"])
    checks = [
        Check(NAME, "throughput vs raw aiohttp", f"{ratio:.2f}", f">= {TARGET}",
              ratio >= TARGET),
        Check(NAME, "  vs raw with fsync + rename", f"{durable:.2f}"),
        Check(NAME, "peak extra RSS while downloading", f"{rss:.1f} MB", f"<= {RSS_TARGET:.0f} MB",
              rss <= RSS_TARGET),
    ]
    return Outcome(NAME, checks, data)


if __name__ == "__main__":
    bench_main(run, __doc__)
