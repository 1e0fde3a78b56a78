"""One way of `bench_overhead` or `bench_downloads`, run `rounds` times after a warm-up round.

Run under `valgrind --tool=callgrind` by `bench_instructions.py`, which counts the
instructions of a run with 0 rounds and of one with K, so that start-up, imports and the
warm-up fall out of the difference. Usage:

    _instructions_child.py get URL KEY IDS WAY N ROUNDS
    _instructions_child.py download URL KEY IDS WAY ROUNDS

IDS is a JSON list of tune ids (get) or prompt ids (download); WAY a way's label there.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

import bench_downloads
import bench_overhead


async def get(url: str, key: str, ids: list[int], way: str, n: int, rounds: int) -> None:
    ways, close = bench_overhead.runners(url, key, ids, n)
    try:
        for _ in range(rounds + 1):
            await ways[way]()
    finally:
        await close()


async def download(url: str, key: str, ids: list[int], way: str, rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="astria-bench-instr-"))
    try:
        async with bench_downloads.every_way(url, key, ids) as (ways, _):
            run = ways[way]
            for i in range(rounds + 1):
                folder = root / str(i)
                folder.mkdir()
                await run(folder)
                shutil.rmtree(folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> None:
    kind, url, key, ids, way, *rest = argv
    numbers = [int(v) for v in rest]
    if kind == "get":
        asyncio.run(get(url, key, json.loads(ids), way, numbers[0], numbers[1]))
    else:
        asyncio.run(download(url, key, json.loads(ids), way, numbers[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
