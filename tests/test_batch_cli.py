"""`astria batch run` end to end, including a kill -9 in the middle of a batch."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_support import ASTRIA, FakeThread, run_cli, stdout_json

POSTS = "/tunes/*/prompts"


@pytest.fixture
def fake() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def write_jobs(path: Path, tune_id: int, count: int, **extra: object) -> Path:
    path.write_text("".join(json.dumps({"tune_id": tune_id, "text": f"ohwx man, shot {i}",
                                        **extra}) + "\n" for i in range(count)))
    return path


def test_invalid_lines_are_all_reported_and_nothing_is_sent(fake: FakeThread,
                                                            tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"tune_id": 1, "text": "fine"}\n'
                    '{"tune_id": 1, "text": "bad", "num_images": 0}\n'
                    "not json\n\n"
                    '{"text": "no tune"}\n')
    result = fake.invoke("batch", "run", str(jobs), "--state", str(tmp_path / "s.db"))
    assert result.exit_code == 1
    assert f"{jobs}:2: num_images" in result.stderr
    assert f"{jobs}:3: invalid JSON" in result.stderr
    assert f"{jobs}:5: tune_id" in result.stderr
    assert "3 invalid line(s)" in result.stderr and "nothing was sent" in result.stderr
    as_json = fake.invoke("--json", "batch", "run", str(jobs))
    assert [e["line"] for e in stdout_json(as_json)["errors"]] == [2, 3, 5]
    assert fake.count("*", "*") == 0
    assert not (tmp_path / "s.db").exists()


def test_dry_run_prints_count_and_cost(fake: FakeThread, tmp_path: Path) -> None:
    paid = fake.call(lambda f: f.add_tune(branch="sd15"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", paid, 3, num_images=2)
    result = fake.invoke("batch", "run", str(jobs), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "3 to create" in result.stdout and "18,000 mc ($0.18)" in result.stdout
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"per_image_mc": 500, "per_prompt_mc": 1000}))
    plan = stdout_json(fake.invoke("--json", "batch", "run", str(jobs), "--dry-run",
                                   "--price-table", str(prices), "--max-cost", "4000"))
    assert plan["estimated_mc"] == 3 * 2000 and plan["fits"] == 2
    fast = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    free = write_jobs(tmp_path / "free.jsonl", fast, 2)
    assert stdout_json(fake.invoke("--json", "batch", "run", str(free),
                                   "--dry-run"))["estimated_mc"] == 0
    offline = run_cli("--json", "batch", "run", str(jobs), "--dry-run")  # no key: no look-ups
    assert stdout_json(offline)["estimated_mc"] == 18_000
    assert fake.count("POST", "*") == 0


def test_dry_run_names_the_lines_that_run_on_a_base_model(fake: FakeThread,
                                                          tmp_path: Path) -> None:
    lora = fake.call(lambda f: f.add_tune(branch="flux1", model_type="lora",
                                          base_tune_id=1504944))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", lora, 2)
    result = fake.invoke("batch", "run", str(jobs), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "2 job(s) run on a base model" in result.stdout
    assert f"line 1: lora tune {lora} runs on its base model 1504944" in result.stdout


def test_max_cost_stops_with_a_clear_message(fake: FakeThread, tmp_path: Path) -> None:
    paid = fake.call(lambda f: f.add_tune(branch="sd15"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", paid, 4, num_images=1)
    args = ("--poll-interval", "0.05", "--json", "batch", "run", str(jobs), "-o",
            str(tmp_path / "out"))
    result = fake.invoke(*args, "--max-cost", "6500")
    assert result.exit_code == 1
    assert "BudgetExceededError" in result.stderr or "max-cost 6,500 mc" in result.stderr
    assert "2 prompt(s) not sent" in result.stderr
    assert stdout_json(result)["counts"] == {"done": 2, "pending": 2}
    assert fake.count("POST", POSTS) == 2
    finished = fake.invoke(*args)
    assert finished.exit_code == 0, finished.stderr
    assert fake.count("POST", POSTS) == 4


def test_run_summary_table_and_failures(fake: FakeThread, tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 3, num_images=2)
    with jobs.open("a") as fh:
        fh.write(json.dumps({"tune_id": tune, "text": "FAIL this", "key": "doomed"}) + "\n")
    result = fake.invoke("--poll-interval", "0.05", "batch", "run", str(jobs), "-o",
                         str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "batch summary" in result.stdout and "doomed" in result.stdout
    assert "Content policy" in result.stdout
    assert len(list((tmp_path / "out").glob("*/*.png"))) == 6
    status = stdout_json(fake.invoke("--json", "batch", "status",
                                     str(tmp_path / "jobs.state.db")))
    assert status["counts"] == {"done": 3, "failed": 1} and status["images"] == 6


def journal_counts(path: Path) -> Counter[str]:
    """Statuses in the journal, read as another process would."""
    if not path.exists():
        return Counter()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return Counter(row[0] for row in db.execute("SELECT status FROM jobs"))
    except sqlite3.OperationalError:  # the schema is not there yet
        return Counter()
    finally:
        db.close()


def batch_command(fake: FakeThread, jobs: Path, state: Path, out: Path) -> list[str]:
    exe = [str(ASTRIA)] if ASTRIA.exists() else [sys.executable, "-m", "astria_async.cli"]
    return [*exe, "--poll-interval", "0.1", "batch", "run", str(jobs), "--state", str(state),
            "-o", str(out), "-c", "3", "--recover-after", "1"]


def test_kill_9_mid_batch_then_resume_creates_each_prompt_once(tmp_path: Path) -> None:
    with FakeThread(prompt_seconds=1.0) as fake:
        tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
        # Slow answers keep a create in flight most of the time, so the kill lands between
        # the server committing it and its answer: the case that must not double-create.
        fake.call(lambda f: f.slow("/tunes/", 0.3, count=None, method="POST",
                                   after_commit=True))
        jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 8, num_images=1)
        state, out = tmp_path / "state.db", tmp_path / "out"
        command = batch_command(fake, jobs, state, out)
        proc = subprocess.Popen(command, env=fake.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            counts = journal_counts(state)
            if counts["creating"] and counts["created"] + counts["done"] >= 2:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, counts
            time.sleep(0.01)
        proc.kill()  # SIGKILL: no cleanup, no flush
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        at_kill = journal_counts(state)
        assert at_kill["pending"] > 0 and at_kill["done"] < 8  # really mid-way

        resumed = subprocess.run(command, env=fake.env(), capture_output=True, text=True,
                                 timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        assert journal_counts(state) == Counter(done=8)
        texts = Counter(p["text"] for p in fake.prompts().values())
        assert texts == Counter(f"ohwx man, shot {i}" for i in range(8))  # once each
        assert len(list(out.glob("*/*.png"))) == 8  # every image on disk
        assert len(list(out.glob("*/.*"))) == 0  # no partial downloads left behind
