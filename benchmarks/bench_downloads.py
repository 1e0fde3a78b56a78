"""Downloads: 500 x 1 MB images via `client.prompts.download` vs raw aiohttp streaming to disk.

Same concurrency for all (the client's `download_concurrency`, 8 by default). The reference is
what one writes by hand: `session.get`, `iter_chunked`, blocking `write` into the final file.
Two more baselines add by hand what the library does for safety, to show where a gap comes
from: a temp file renamed when complete (the library's default), and that plus fsync of the
file and its directory (`AstriaClient(durable_downloads=True)`, measured too). The fake runs
in a child process, so the peak extra RSS (sampled from a thread) is the client's own. Runs are
interleaved; medians.
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
from astria_async._config import DEFAULT_DOWNLOAD_CONCURRENCY
from astria_async.download import CHUNK

NAME = "downloads"
TARGET = 0.95  # issue #16
RSS_TARGET = 64.0
IMAGE_BYTES = 1_000_000
Run = Callable[[Path], Awaitable[None]]


LIB, LIB_DURABLE = "library", "library, durable"
RAW, RAW_RENAME, RAW_DURABLE = "raw aiohttp", "raw + temp, rename", "raw + fsync, rename"


def runs(client: AstriaClient, durable: AstriaClient, session: aiohttp.ClientSession,
         prompts: list[Prompt]) -> dict[str, Run]:
    """The ways to fetch every image of `prompts` into a directory."""
    limit = asyncio.Semaphore(DEFAULT_DOWNLOAD_CONCURRENCY)
    urls = [url for p in prompts for url in p.images]

    def library(c: AstriaClient) -> Run:
        async def run(folder: Path) -> None:
            await asyncio.gather(*(c.prompts.download(p, folder) for p in prompts))
        return run

    async def naive_one(url: str, path: Path) -> None:
        async with limit, session.get(url) as resp:
            resp.raise_for_status()
            with path.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    out.write(chunk)

    async def renamed_one(url: str, path: Path, sync: bool = False) -> None:
        async with limit, session.get(url) as resp:
            resp.raise_for_status()
            part = path.with_name(f".{path.name}.part")
            with part.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    out.write(chunk)
                if sync:
                    out.flush()
                    await asyncio.to_thread(os.fsync, out.fileno())
            part.replace(path)
            if sync:
                await asyncio.to_thread(fsync_dir, path.parent)

    async def durable_one(url: str, path: Path) -> None:
        await renamed_one(url, path, sync=True)

    def over_urls(one: Callable[[str, Path], Awaitable[None]]) -> Run:
        async def run(folder: Path) -> None:
            await asyncio.gather(*(one(url, folder / f"{i}.png") for i, url in enumerate(urls)))
        return run

    return {LIB: library(client), RAW: over_urls(naive_one), RAW_RENAME: over_urls(renamed_one),
            LIB_DURABLE: library(durable), RAW_DURABLE: over_urls(durable_one)}


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def measure(url: str, key: str, ids: list[int], reps: int) -> dict[str, Any]:
    """Warm up, then `reps` interleaved rounds; MB/s and peak extra RSS per run."""
    root = Path(tempfile.mkdtemp(prefix="astria-bench-dl-"))
    out: dict[str, dict[str, list[float]]] = {}
    try:
        async with AstriaClient(api_key=key, base_url=url, fair_use=None) as client, \
                AstriaClient(api_key=key, base_url=url, fair_use=None,
                             durable_downloads=True) as durable, \
                aiohttp.ClientSession() as session:
            prompts = list(await asyncio.gather(*(client.prompts.get(i) for i in ids)))
            total = sum(len(p.images) for p in prompts) * IMAGE_BYTES / 1e6
            ways = runs(client, durable, session, prompts)
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
    """500 x 1 MB (60 in --quick)."""
    n, reps = (60, 2) if quick else (500, 5)
    note(f"{n} prompts x 1 image x {IMAGE_BYTES:,} bytes, concurrency "
         f"{DEFAULT_DOWNLOAD_CONCURRENCY}, {reps} interleaved rounds; fake in a child process")
    with remote_fake(tunes=10, prompts=n, prompt_seconds=0, image_bytes=IMAGE_BYTES) as remote:
        data = asyncio.run(measure(remote.url, remote.api_key, remote.prompts, reps))
    runs_ = data["runs"]
    speed = {label: median(r["mb_s"]) for label, r in runs_.items()}
    table(f"Downloads: {data['total_mb']:.0f} MB per run (MB/s, medians; RSS: max over runs)",
          ["way", "MB/s", "vs raw", "peak extra RSS MB"],
          [(label, f"{speed[label]:.0f}", f"{speed[label] / speed[RAW]:.2f}",
            f"{max(r['rss_mb']):.1f}") for label, r in runs_.items()])
    ratio = speed[LIB] / speed[RAW]
    rss = max(runs_[LIB]["rss_mb"])
    checks = [
        Check(NAME, "throughput vs raw aiohttp", f"{ratio:.2f}", f">= {TARGET}",
              ratio >= TARGET),
        Check(NAME, "  vs raw with temp + rename", f"{speed[LIB] / speed[RAW_RENAME]:.2f}"),
        Check(NAME, "  durable vs raw with fsync + rename",
              f"{speed[LIB_DURABLE] / speed[RAW_DURABLE]:.2f}"),
        Check(NAME, "peak extra RSS while downloading", f"{rss:.1f} MB", f"<= {RSS_TARGET:.0f} MB",
              rss <= RSS_TARGET),
    ]
    return Outcome(NAME, checks, data)


if __name__ == "__main__":
    bench_main(run, __doc__)
