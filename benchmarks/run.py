"""Run every benchmark (`--quick`: the CI smoke run, under a minute) and print one summary.

Figures are printed and saved to benchmarks/results/, not asserted: the exit status is 1 only
when a benchmark crashed.
"""

from __future__ import annotations

import importlib
import sys
import time

from _common import Check, Outcome, configure, crashed, parse_args, save, summary, table

SCRIPTS = ("bench_overhead", "bench_poll_economy", "bench_scale", "bench_batch",
           "bench_downloads", "bench_cli")


def main() -> int:
    """Each benchmark in turn, a crash noted and the rest still run."""
    args = parse_args(__doc__)
    configure(args)
    checks: list[Check] = []
    walls: list[tuple[str, str]] = []
    failed = False
    started = time.perf_counter()
    for script in SCRIPTS:
        print(f"\n=== {script}{' (quick)' if args.quick else ''} ===", flush=True)
        began = time.perf_counter()
        try:
            module = importlib.import_module(script)
            outcome: Outcome = module.run(args.quick)
        except Exception as exc:
            outcome, failed = crashed(script, exc), True
        wall = time.perf_counter() - began
        save(outcome, args.quick, wall)
        checks += outcome.checks
        walls.append((script, f"{wall:.1f}"))
    walls.append(("total", f"{time.perf_counter() - started:.1f}"))
    table("Wall time (s)", ["benchmark", "seconds"], walls)
    summary(checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
