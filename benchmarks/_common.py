"""Shared harness for the benchmark scripts: args, timing, tables, JSON, plots, RSS, loop lag.

Benchmarks are scripts, not tests: each measures the library next to a baseline in the same
run, on loopback (127.0.0.1) against FakeAstria, and returns `Check` rows for the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOOPBACK = "127.0.0.1"


@dataclass
class Check:
    """One summary row: a headline figure, its target and whether it was met (None: no target)."""

    bench: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Outcome:
    """What a benchmark hands back: summary rows plus everything worth keeping as JSON."""

    name: str
    checks: list[Check]
    data: dict[str, Any] = field(default_factory=dict)


# ---- arguments and entry points ----

def parse_args(doc: str | None) -> argparse.Namespace:
    """`--quick` (smaller N, CI smoke), `--no-plot`, `--profile`, `--no-summary`."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run in seconds")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    parser.add_argument("--profile", action="store_true",
                        help="profile the client even when its target is met")
    parser.add_argument("--no-summary", action="store_true",
                        help="skip the summary table (run.py prints one for all)")
    return parser.parse_args()


PLOTS = True
PROFILE = False


def bench_main(run: Callable[[bool], Outcome], doc: str | None) -> None:
    """Standalone entry point of one benchmark script: run, save, summarise."""
    args = parse_args(doc)
    configure(args)
    started = time.perf_counter()
    outcome = run(args.quick)
    save(outcome, args.quick, time.perf_counter() - started)
    if not args.no_summary:
        summary(outcome.checks)


def load_checks(name: str, quick: bool) -> list[Check]:
    """The summary rows a benchmark saved in `results/<name>[.quick].json`."""
    path = RESULTS / f"{name}{'.quick' if quick else ''}.json"
    return [Check(**row) for row in json.loads(path.read_text())["checks"]]


def configure(args: argparse.Namespace) -> None:
    """Apply the shared flags."""
    global PLOTS, PROFILE
    PLOTS, PROFILE = not args.no_plot, args.profile


def save(outcome: Outcome, quick: bool, wall: float) -> Path:
    """Write `results/<name>.json` (or `<name>.quick.json`) with the run's context."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{outcome.name}{'.quick' if quick else ''}.json"
    payload = {
        "benchmark": outcome.name,
        "quick": quick,
        "wall_seconds": round(wall, 2),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "checks": [asdict(c) for c in outcome.checks],
        "data": outcome.data,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def machine() -> dict[str, Any]:
    """Enough context to compare runs."""
    import aiohttp

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "aiohttp": aiohttp.__version__}


# ---- statistics and timing ----

def median(values: Sequence[float]) -> float:
    """Median (nan for no values)."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (nan for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t:` ... then `t[0]` is the elapsed wall time in seconds."""
    out: list[float] = []
    started = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - started)


# ---- printing ----

def fmt(value: float, digits: int = 2) -> str:
    """A number for a table: thousands separators, fixed decimals."""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}")
    print(line)
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n and _numeric(c) else c.ljust(w)
                        for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print(line)
    print(line, flush=True)


def _numeric(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or cell[0] in "-+.") and cell != "-"


def summary(checks: Sequence[Check]) -> None:
    """The final table: benchmark, figure, target, met?"""
    mark = {True: "yes", False: "NO", None: "-"}
    table("Summary", ["benchmark", "figure", "value", "target", "met?"],
          [(c.bench, c.figure, c.value, c.target or "-", mark[c.met]) for c in checks])


def note(text: str) -> None:
    """A progress or caveat line."""
    print(f"  . {text}", flush=True)


# ---- plots ----

def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None (with a note) when not installed."""
    if not PLOTS:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        note("matplotlib is not installed: no plot drawn (pip install matplotlib)")
        return None
    return plt


def _save(plt: Any, fig: Any, name: str) -> None:
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / f"{name}.png", dpi=110)
    plt.close(fig)
    note(f"plot: {RESULTS / name}.png")


def plot(name: str, title: str, xlabel: str, ylabel: str,
         series: dict[str, tuple[Sequence[float], Sequence[float]]], *,
         logx: bool = False, logy: bool = False) -> None:
    """Save `results/<name>.png` with one line per series; skipped without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o", label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _save(plt, fig, name)


def plot_panels(name: str, title: str, xlabel: str,
                panels: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> None:
    """Save `results/<name>.png`: stacked time series sharing the x axis."""
    plt = _pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(6.4, 2.4 * len(panels)))
    for ax, (ylabel, xs, ys) in zip(axes, panels, strict=True):
        ax.plot(list(xs), list(ys), linewidth=0.8)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0].set_title(title)
    axes[-1].set_xlabel(xlabel)
    _save(plt, fig, name)


# ---- memory ----

def rss_mb() -> float:
    """Resident set size of this process in MB (psutil if present, else /proc)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return math.nan
    return float(psutil.Process().memory_info().rss) / 2**20


class RssSampler:
    """Samples RSS from a thread (the loop may be too busy to) and keeps the peak."""

    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.start_mb = rss_mb()
        self.peak_mb = self.start_mb
        self.timeline: list[tuple[float, float]] = []  # (time.monotonic(), MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            now = rss_mb()
            self.timeline.append((time.monotonic(), now))
            self.peak_mb = max(self.peak_mb, now)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sampling (idempotent); the peak includes a last sample taken now."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, rss_mb())

    @property
    def growth_mb(self) -> float:
        """Peak minus the RSS when sampling started."""
        return self.peak_mb - self.start_mb


# ---- event-loop lag ----

class LoopLag:
    """A ticker task that sleeps `period` and records how late it wakes (ms)."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.lags_ms: list[float] = []
        self.times: list[float] = []  # loop.time() (= time.monotonic()) of each wake-up
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            woke = loop.time()
            self.times.append(woke)
            self.lags_ms.append(max(0.0, (woke - before - self.period) * 1000))

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def p(self, pct: float) -> float:
        """Lag percentile in ms."""
        return percentile(self.lags_ms, pct)


# ---- the fake server in a separate process ----

@dataclass
class RemoteFake:
    """A FakeAstria running in a child process (client cost measured alone)."""

    url: str
    api_key: str
    tunes: list[int]
    prompts: list[int]
    proc: subprocess.Popen[str]

    def ask(self, line: str) -> Any:
        """Send one control line (`count METHOD PATTERN`, `clear`) and read the JSON answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


@contextlib.contextmanager
def remote_fake(**options: Any) -> Iterator[RemoteFake]:
    """Start `_fake_server.py` with `--key value` options; seeds, then yields its address."""
    argv = [sys.executable, str(HERE / "_fake_server.py")]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        hello = proc.stdout.readline()
        if not hello:
            raise RuntimeError("the fake server process exited before it was ready")
        info = json.loads(hello)
        assert info["url"].startswith(f"http://{LOOPBACK}:")
        yield RemoteFake(info["url"], info["api_key"], info["tunes"], info["prompts"], proc)
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def fixed_server() -> Iterator[str]:
    """`_fixed_server.py` in a child process (one fixed tune body); yields its URL."""
    proc = subprocess.Popen([sys.executable, str(HERE / "_fixed_server.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        hello = proc.stdout.readline()
        if not hello:
            raise RuntimeError("the fixed-body server exited before it was ready")
        yield str(json.loads(hello)["url"])
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- the fake in this process ----

@contextlib.asynccontextmanager
async def local_fake(**options: Any) -> AsyncIterator[Any]:
    """A FakeAstria in this loop (how users test); `options` go to its constructor."""
    from astria_async.testing import FakeAstria

    async with FakeAstria(**options) as fake:
        assert fake.url.startswith(f"http://{LOOPBACK}:")
        yield fake


def seed(fake: Any, tunes: int, prompts: int, **prompt_attrs: Any) -> tuple[list[int], list[int]]:
    """Trained tunes and prompts spread over them round-robin, created without HTTP."""
    tune_ids = [fake.add_tune(title=f"bench-{i}")["id"] for i in range(tunes)]
    prompt_ids = [fake.add_prompt(tune_ids[i % tunes], f"ohwx man, photo {i}", seed=i,
                                  **prompt_attrs)["id"] for i in range(prompts)]
    return tune_ids, prompt_ids
