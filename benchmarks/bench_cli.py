"""Start-up: `astria --help` and `from astria_async import AstriaClient` (medians of runs).

The CLI is timed against `python -c pass`; the library import against `import aiohttp`, the
dependency it cannot do without (the ratio is the library's own import cost on top). Runs
alternate between the commands. Above target, `-X importtime` names the imports
that cost the most.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import Check, Outcome, bench_main, median, table

NAME = "cli_startup"
TARGET = 0.3
IMPORT_TARGET = 1.15  # `from astria_async import AstriaClient` ÷ `import aiohttp` (issue #16)


def astria_command() -> list[str]:
    """The installed `astria` entry point next to this interpreter, else the same via -c."""
    found = shutil.which("astria", path=str(Path(sys.executable).parent))
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from astria_async.cli import main; sys.exit(main())"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run; fails loudly if the command does."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed


def heaviest_imports(env: dict[str, str], top: int = 15) -> list[dict[str, Any]]:
    """Top cumulative import times (µs) of `astria --help` under `-X importtime`."""
    cmd = [sys.executable, "-X", "importtime", "-c",
           "import sys; from astria_async.cli import main; sys.argv[1:] = ['--help']; "
           "sys.exit(main())"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    rows: list[dict[str, Any]] = []
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if found:
            rows.append({"module": found.group(4), "self_us": int(found.group(1)),
                         "cumulative_us": int(found.group(2)), "depth": len(found.group(3)) // 2})
    rows.sort(key=lambda r: -r["cumulative_us"])
    return rows[:top]


def run(quick: bool) -> Outcome:
    """Alternate `astria --help` and `python -c pass`; medians."""
    # 25 rounds: one run of a command moves by ~10 ms on this kind of VM, which is ±0.05 on
    # the import ratio; the median of 25 moves by about a fifth of that.
    reps = 5 if quick else 25
    # Without PYTHONDONTWRITEBYTECODE: the warm-up below writes the .pyc files an installed
    # package has (pip compiles at install), else every timed import compiles our sources
    # (~50 ms of the library's import) while aiohttp's come precompiled from its wheel.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ASTRIA_", "WORKSPACE")) and k != "PYTHONDONTWRITEBYTECODE"}
    astria = [*astria_command(), "--help"]
    baseline = [sys.executable, "-c", "pass"]
    importing = [sys.executable, "-c", "import astria_async"]
    client = [sys.executable, "-c", "from astria_async import AstriaClient"]
    aiohttp = [sys.executable, "-c", "import aiohttp"]
    timed(astria, env)  # warm the page cache and .pyc files
    timed(client, env)
    times: dict[str, list[float]] = {"astria --help": [], "python -c pass": [],
                                     "python -c 'import astria_async'": [],
                                     "from astria_async import AstriaClient": [],
                                     "import aiohttp": []}
    commands = (astria, baseline, importing, client, aiohttp)
    for _ in range(reps):
        for label, argv in zip(times, commands, strict=True):
            times[label].append(timed(argv, env))
    medians = {label: median(values) for label, values in times.items()}
    table(f"CLI start-up (wall seconds, median of {reps})", ["command", "median", "min", "max"],
          [(label, f"{medians[label]:.3f}", f"{min(v):.3f}", f"{max(v):.3f}")
           for label, v in times.items()])
    cli = medians["astria --help"]
    data: dict[str, Any] = {"reps": reps, "command": astria, "seconds": times,
                            "medians": medians}
    if cli > TARGET:
        data["imports"] = heaviest_imports(env)
        table("Slowest imports of `astria --help` (-X importtime, inflated by the tracing)",
              ["module", "cumulative ms", "self ms"],
              [(r["module"], f"{r['cumulative_us'] / 1000:.1f}",
                f"{r['self_us'] / 1000:.1f}") for r in data["imports"]])
    # Interpreter start-up is common to both; the ratio is of the imports alone.
    start = medians["python -c pass"]
    ratio = ((medians["from astria_async import AstriaClient"] - start)
             / (medians["import aiohttp"] - start))
    data["import_ratio"] = ratio
    # The same ratio within each round (adjacent runs), to show how far one run can stray.
    rounds = sorted((c - p) / (a - p) for c, a, p in zip(
        times["from astria_async import AstriaClient"], times["import aiohttp"],
        times["python -c pass"], strict=True))
    data["import_ratio_rounds"] = rounds
    checks = [
        Check(NAME, "`astria --help` wall time", f"{cli:.3f} s", f"<= {TARGET} s", cli <= TARGET),
        Check(NAME, "  vs `python -c pass`", f"{medians['python -c pass']:.3f} s"),
        Check(NAME, "import AstriaClient ÷ import aiohttp (start-up subtracted)",
              f"{ratio:.2f} (rounds {rounds[0]:.2f}-{rounds[-1]:.2f})", f"<= {IMPORT_TARGET}",
              ratio <= IMPORT_TARGET),
    ]
    return Outcome(NAME, checks, data)


if __name__ == "__main__":
    bench_main(run, __doc__)
