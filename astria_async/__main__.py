"""`python -m astria_async` and the `astria` script: the CLI when its extra is installed; without
it, the offline demo still runs (argparse) and every other command says what to install."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

# The modules of the [cli] extra (rich is imported by commands on first output).
EXTRA = ("click", "rich")
HINT = ("the astria command needs the CLI extra: pip install 'astria-async[cli]' "
        "(the offline demo runs without it: {demo})")


def _extra_missing() -> bool:
    """True when click or rich cannot be found (checked without importing them)."""
    for name in EXTRA:
        try:
            if importlib.util.find_spec(name) is None:
                return True
        except (ImportError, ValueError):  # a broken or blocked module counts as missing
            return True
    return False


def _run_cli(args: list[str]) -> bool:
    """Run the click CLI; False when its extra is missing (nothing was run then)."""
    if _extra_missing():
        return False
    try:
        from .cli import main as cli_main
    except ModuleNotFoundError as exc:
        if exc.name not in EXTRA:
            raise
        return False
    cli_main(args)
    return True


def _demo(args: list[str], prog: str) -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Offline demo against the bundled fake "
                                                 "Astria server (no network, no key).")
    parser.add_argument("-o", "--out", default="astria-demo", help="folder for the images")
    parser.add_argument("--prompts", type=int, default=3, choices=range(1, 9),
                        metavar="1-8", help="how many prompts to run (default 3)")
    options = parser.parse_args(args)
    from .demo import run

    result = run(options.out, prompts=options.prompts)
    print(result.describe())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m astria_async`: the demo (argparse, works without the [cli] extra), or the
    `astria` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["demo"]:
        return _demo(args[1:], "python -m astria_async demo")
    if _run_cli(args):
        return 0
    print(HINT.format(demo="python -m astria_async demo"), file=sys.stderr)
    return 2


def script(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `astria` script: never a traceback for a missing extra."""
    args = list(sys.argv[1:] if argv is None else argv)
    if _run_cli(args):
        return 0
    if args[:1] == ["demo"]:
        return _demo(args[1:], "astria demo")
    print(f"astria: {HINT.format(demo='astria demo')}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
