"""`python -m astria_async demo` (argparse: works without the [cli] extra); other commands
go to the `astria` CLI when click and rich are installed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo, or hand the arguments to the `astria` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["demo"]:
        try:
            from .cli import main as cli_main
        except ImportError:
            print("python -m astria_async demo runs the offline demo; the other commands need "
                  "the CLI extra: pip install 'astria-async[cli]'", file=sys.stderr)
            return 2
        cli_main(args)
        return 0
    parser = argparse.ArgumentParser(prog="python -m astria_async demo",
                                     description="Offline demo against the bundled fake "
                                                 "Astria server (no network, no key).")
    parser.add_argument("-o", "--out", default="astria-demo", help="folder for the images")
    parser.add_argument("--prompts", type=int, default=3, choices=range(1, 9),
                        metavar="1-8", help="how many prompts to run (default 3)")
    options = parser.parse_args(args[1:])
    from .demo import run

    result = run(options.out, prompts=options.prompts)
    print(result.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
