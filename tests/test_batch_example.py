"""examples/batch_job.py in the suite: a 300-job batch killed with SIGKILL, then resumed.

Quick by default (one kill). A long run: ASTRIA_KILL_ROUNDS=50 ASTRIA_KILL_JOBS=1000
ASTRIA_KILL_SEED=7 pytest tests/test_batch_example.py
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

from _examples import EXAMPLES

EXAMPLE = EXAMPLES / "batch_job.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("batch_job_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_killed_batch_resumes_with_every_job_created_once(tmp_path: Path) -> None:
    rounds = int(os.environ.get("ASTRIA_KILL_ROUNDS", "1"))
    jobs = int(os.environ.get("ASTRIA_KILL_JOBS", "300"))
    seed = int(os.environ.get("ASTRIA_KILL_SEED", "1"))
    report = load_example().run_batch(jobs=jobs, kills=rounds, seed=seed, workdir=tmp_path)
    print(report)  # shown with -s: the figures of a long run
    assert report["duplicates"] == 0 and report["missing"] == 0
    assert report["prompts"] == jobs
    assert report["kills"] >= 1 and report["mid_way"] >= 1  # the kill landed mid-batch
    images = list((tmp_path / "images").glob("*/*.png"))
    assert len(images) == sum(1 + i % 2 for i in range(jobs))
