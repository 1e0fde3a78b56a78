"""Instructions: the client's own work per request and per download, counted rather than timed.

Timed ratios on a shared machine move by 2-3 % from run to run, as much as what is left of
the client's overhead over raw aiohttp (issue #16). valgrind's callgrind counts the
instructions a process runs in user space, which barely move between runs. Each way of
`bench_overhead` (GET /tunes/:id against the fixed-body server) and of `bench_downloads` (1 KB
and 1 MB images from the fake) runs under it twice, with 0 and with K rounds after a warm-up
round; the difference divided by K and by the requests (files) of a round is the way's
instructions per request (file). Start-up, imports and the warm-up fall out of the difference.
Work in the kernel (socket copies, the temp file's rename) is not counted: the CPU-time
figures of those two benchmarks include it. The GET ways also run callgrind's cache model,
for their L1 instruction and data misses: the client runs fewer instructions than raw aiohttp
(orjson), yet is timed a little slower, and the misses show why: each Python function a
request runs touches its own code and data. Needs valgrind (`apt-get install -y valgrind`);
without it nothing is measured. Servers run outside valgrind, in their own processes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import HERE, Check, Outcome, bench_main, fixed_server, note, remote_fake, table
from bench_downloads import LIB, RAW_OS, RAW_RENAME
from bench_downloads import RAW as RAW_DOWNLOAD
from bench_overhead import CLIENT, RAW, RAW_MODEL

NAME = "instructions"
_EVENTS = re.compile(r"Events\s*:\s*(.+)")
_COLLECTED = re.compile(r"Collected\s*:\s*([\d ]+)")
# What is kept of callgrind's events: instructions, and with the cache simulation the L1
# misses (instruction fetches; data reads) of its model of this machine's caches.
EVENTS = {"Ir": "instructions", "I1mr": "L1i misses", "D1mr": "L1d read misses"}


def count(argv: list[str], caches: bool = False) -> dict[str, int]:
    """Events of `_instructions_child.py argv` under callgrind: user-space instructions, and
    with `caches` its simulated L1 misses (slower)."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         f"--cache-sim={'yes' if caches else 'no'}", sys.executable,
         str(HERE / "_instructions_child.py"), *argv],
        capture_output=True, text=True, check=False)
    names, values = _EVENTS.search(done.stderr), _COLLECTED.search(done.stderr)
    if done.returncode != 0 or names is None or values is None:
        raise RuntimeError(f"callgrind run failed ({done.returncode}): {done.stderr[-1500:]}")
    got = dict(zip(names.group(1).split(), map(int, values.group(1).split()), strict=False))
    return {event: got[event] for event in EVENTS if event in got}


def per_unit(jobs: dict[str, list[str]], rounds: int, units: int, caches: bool = False
             ) -> dict[str, dict[str, float]]:
    """Events per unit of each way (its child arguments but the rounds, in `jobs`):
    (K rounds - 0 rounds) / K / units, for each event (see `count`).

    The counts do not depend on timing, so the runs go two at a time (one per core).
    """
    argvs = [(label, k, [*argv, str(k)]) for label, argv in jobs.items() for k in (0, rounds)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip([(label, k) for label, k, _ in argvs],
                          pool.map(lambda argv: count(argv, caches),
                                   [argv for _, _, argv in argvs]), strict=True))
    return {label: {event: (counts[label, rounds][event] - counts[label, 0][event])
                    / rounds / units for event in counts[label, rounds]}
            for label in jobs}


def get_figures(n: int, rounds: int) -> dict[str, dict[str, float]]:
    """GET /tunes/:id: raw aiohttp, raw + the Tune model, the client (per request), with the
    simulated L1 misses: equal instructions can still take unequal time, and each Python
    function a request runs adds misses (its code and data) as well as instructions."""
    ids = json.dumps(list(range(1, 11)))
    with fixed_server() as url:
        return per_unit({way: ["get", url, "k", ids, way, str(n)]
                         for way in (RAW, RAW_MODEL, CLIENT)}, rounds, n, caches=True)


def download_figures(size: int, n: int, rounds: int) -> dict[str, dict[str, float]]:
    """n images of `size` bytes: raw aiohttp, raw + temp file and rename (pathlib; system
    calls alone), the library."""
    with remote_fake(tunes=10, prompts=n, prompt_seconds=0, image_bytes=size) as remote:
        ids = json.dumps(remote.prompts)
        return per_unit({way: ["download", remote.url, remote.api_key, ids, way]
                         for way in (RAW_DOWNLOAD, RAW_RENAME, RAW_OS, LIB)}, rounds, n)


def run(quick: bool) -> Outcome:
    """GET, then downloads of 1 KB and 1 MB images (1 KB only in --quick)."""
    if shutil.which("valgrind") is None:
        note("valgrind is not installed (apt-get install -y valgrind): nothing measured")
        return Outcome(NAME, [Check(NAME, "instruction counts", "skipped: no valgrind")])
    n, files, rounds = (100, 20, 1) if quick else (500, 100, 2)
    sizes = (1_000,) if quick else (1_000, 1_000_000)
    note(f"callgrind, user space only; {rounds} counted round(s) of {n} GETs (concurrency 32) "
         f"and of {files} images a size, after a warm-up round")
    data: dict[str, Any] = {"get": get_figures(n, rounds)}
    for size in sizes:
        data[f"download_{size}"] = download_figures(size, files, rounds)
    get = {way: events["Ir"] for way, events in data["get"].items()}
    rows = [("GET /tunes/:id", way, f"{value / 1e3:,.1f}",
             f"{(value - get[RAW]) / 1e3:+,.1f}") for way, value in get.items()]
    checks = [Check(NAME, "GET: client's instructions a request over raw aiohttp",
                    f"{(get[CLIENT] - get[RAW]) / 1e3:+,.1f} k ({get[CLIENT] / get[RAW]:.3f}x)")]
    misses = data["get"]
    for event in ("I1mr", "D1mr"):
        checks.append(Check(NAME, f"GET: client's {EVENTS[event]} a request over raw aiohttp",
                            f"{misses[CLIENT][event] - misses[RAW][event]:+,.0f} "
                            f"({misses[CLIENT][event]:,.0f} vs {misses[RAW][event]:,.0f})"))
    for size in sizes:
        got = {way: events["Ir"] for way, events in data[f"download_{size}"].items()}
        own = (got[RAW_OS] - got[RAW_DOWNLOAD]) / 1e3
        rows += [(f"download, {size:,}-byte images", way, f"{value / 1e3:,.1f}",
                  f"{(value - got[RAW_DOWNLOAD]) / 1e3:+,.1f}") for way, value in got.items()]
        over_pathlib = (got[LIB] - got[RAW_RENAME]) / 1e3
        checks.append(Check(
            NAME, f"download, {size:,} B: library's instructions a file over raw + temp, rename "
            "in system calls", f"{(got[LIB] - got[RAW_OS]) / 1e3:+,.1f} k (that floor's own "
            f"over raw: {own:+,.1f} k; the library over the pathlib way: {over_pathlib:+,.1f} k)"))
    table("User-space instructions per request (GET) or per file (downloads), thousands",
          ["what", "way", "k instructions", "- raw aiohttp's"], rows)
    table("Simulated L1 misses per GET (callgrind's cache model)",
          ["way", *(EVENTS[event] for event in ("I1mr", "D1mr"))],
          [(way, *(f"{events[event]:,.0f}" for event in ("I1mr", "D1mr")))
           for way, events in misses.items()])
    return Outcome(NAME, checks, data)


if __name__ == "__main__":
    bench_main(run, __doc__)
