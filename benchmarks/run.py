"""Run every benchmark (`--quick`: the CI smoke run, under a minute) and print one summary.

Each benchmark runs in a fresh interpreter (RSS figures need one). Figures are printed and
saved to benchmarks/results/, not asserted: the exit status is 1 only when a benchmark crashed.
"""

from __future__ import annotations

import subprocess
import sys
import time

from _common import HERE, Check, load_checks, parse_args, summary, table

# script -> the name its results are saved under
SCRIPTS = {"bench_overhead": "overhead", "bench_poll_economy": "poll_economy",
           "bench_scale": "scale", "bench_batch": "batch", "bench_downloads": "downloads",
           "bench_cli": "cli_startup", "bench_scale_out": "scale_out",
           "bench_batch_journal": "batch_journal", "bench_instructions": "instructions"}


def main() -> int:
    """Each benchmark in turn; a crash is noted and the rest still run."""
    args = parse_args(__doc__)
    flags = ["--no-summary"] + [f for f, on in (("--quick", args.quick),
                                                ("--no-plot", args.no_plot),
                                                ("--profile", args.profile)) if on]
    checks: list[Check] = []
    walls: list[tuple[str, str]] = []
    failed = False
    started = time.perf_counter()
    for script, name in SCRIPTS.items():
        print(f"\n=== {script}{' (quick)' if args.quick else ''} ===", flush=True)
        began = time.perf_counter()
        code = subprocess.run([sys.executable, str(HERE / f"{script}.py"), *flags],
                              check=False).returncode
        walls.append((script, f"{time.perf_counter() - began:.1f}"))
        if code == 0:
            checks += load_checks(name, args.quick)
        else:
            failed = True
            checks.append(Check(name, "CRASHED", f"exit status {code} (traceback above)"))
    walls.append(("total", f"{time.perf_counter() - started:.1f}"))
    table("Wall time (s)", ["benchmark", "seconds"], walls)
    summary(checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
