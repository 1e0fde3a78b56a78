"""What a piece of code imports, run in a fresh interpreter (this process has loaded
everything already): the start-up and layering tests."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules whose names start with one of `prefixes` that `code` leaves loaded."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    names: list[str] = json.loads(out.strip().splitlines()[-1])
    return names
