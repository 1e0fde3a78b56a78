"""`astria batch` through the real entry point: clear errors, locks, refusals, exit codes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_batch_cli import write_jobs
from test_cli_support import FakeThread, stdout_json

from astria_async.batch import SqliteJournal

POSTS = "/tunes/*/prompts"


@pytest.fixture
def fake() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def one_clear_line(stderr: str) -> None:
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_job_file_as_state_and_state_as_job_file(fake: FakeThread, tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 2)
    before = jobs.read_bytes()
    same = fake.invoke("batch", "run", str(jobs), "--state", str(jobs))
    assert same.exit_code == 1 and "is the job file itself" in same.stderr
    one_clear_line(same.stderr)
    status = fake.invoke("batch", "status", str(jobs))
    assert status.exit_code == 1 and "not a batch state file" in status.stderr
    assert str(jobs) in status.stderr
    one_clear_line(status.stderr)
    other = tmp_path / "other.jsonl"
    other.write_bytes(before)
    as_state = fake.invoke("batch", "run", str(jobs), "--state", str(other))
    assert as_state.exit_code == 1 and "not a batch state file" in as_state.stderr
    assert jobs.read_bytes() == before and other.read_bytes() == before
    assert fake.count("POST", "*") == 0


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00\x10\x00"])
def test_empty_or_truncated_state_is_refused_unchanged(fake: FakeThread, tmp_path: Path,
                                                       content: bytes) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 2)
    state = tmp_path / "s.db"
    state.write_bytes(content)
    result = fake.invoke("batch", "run", str(jobs), "--state", str(state))
    assert result.exit_code == 1 and str(state) in result.stderr
    one_clear_line(result.stderr)
    assert state.read_bytes() == content and fake.count("POST", "*") == 0


def test_a_second_run_through_a_symlink_names_the_holder(fake: FakeThread,
                                                         tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 2)
    real, alias = tmp_path / "s.db", tmp_path / "alias.db"
    holder = SqliteJournal(real)
    asyncio.run(holder.claim())
    alias.symlink_to(real)
    try:
        result = fake.invoke("batch", "run", str(jobs), "--state", str(alias))
    finally:
        asyncio.run(holder.close())
    assert result.exit_code == 1 and "in use by pid" in result.stderr
    one_clear_line(result.stderr)
    assert fake.count("POST", "*") == 0


def test_504_after_commit_ends_done_with_exit_0(fake: FakeThread, tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    fake.call(lambda f: f.fail(f"/tunes/{tune}/prompts", 504, after_commit=True,
                               method="POST"))
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 3, num_images=1)
    result = fake.invoke("--poll-interval", "0.05", "--json", "batch", "run", str(jobs),
                         "-o", str(tmp_path / "out"), "--recover-after", "0")
    assert result.exit_code == 0, result.stderr
    assert stdout_json(result)["counts"] == {"done": 3}
    assert fake.count("POST", POSTS) == 3


def test_refusals_are_grouped_failed_and_retried_on_request(fake: FakeThread,
                                                           tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="sd15"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 6, num_images=1)
    args = ("--poll-interval", "0.05", "batch", "run", str(jobs), "--no-download")
    capped = fake.invoke(*args, "--fair-use-cap", "2")
    assert capped.exit_code == 1
    logged = capped.stderr.splitlines()
    assert sum(line.startswith("refused: ") for line in logged) == 1  # once as it happens...
    assert "4 \u00d7 refused: " in capped.stderr  # ...and grouped at the end
    assert "failed" in capped.stdout and fake.count("POST", POSTS) == 2
    again = fake.invoke("--json", *args)
    assert stdout_json(again)["counts"] == {"done": 2, "failed": 4}
    assert fake.count("POST", POSTS) == 2  # a resume does not re-send refusals
    retried = fake.invoke(*args, "--retry-failed", "--fair-use-cap", "100")
    assert retried.exit_code == 0, retried.stderr
    assert fake.count("POST", POSTS) == 6
    # The bars count every job of the file, on the first run and on a resume alike.
    for run in (capped, retried):
        bars = [line for line in run.stderr.splitlines()
                if line.startswith(("created ", "finished "))]
        assert bars and all("/6: " in line for line in bars), run.stderr
    assert "finished 6/6: " in retried.stderr


def test_fair_use_switches(fake: FakeThread, tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="sd15"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 25, num_images=1)
    both = fake.invoke("batch", "run", str(jobs), "--no-fair-use", "--fair-use-cap", "3")
    assert both.exit_code == 2 and "--no-fair-use" in both.stderr
    # Past the default cap (21 a tune) everything is refused unless the guard is told.
    result = fake.invoke("--poll-interval", "0.05", "--json", "batch", "run", str(jobs),
                         "--no-download", "--no-fair-use")
    assert result.exit_code == 0, result.stderr
    assert stdout_json(result)["counts"] == {"done": 25}


def test_callback_secret_is_not_journaled_or_printed(fake: FakeThread, tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    hook = "https://hooks.example.com/astria?webhook_secret=s3cr3t-value&user_id=7"
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 2, num_images=1, callback=hook)
    state = tmp_path / "s.db"
    result = fake.invoke("--poll-interval", "0.05", "--json", "batch", "run", str(jobs),
                         "--state", str(state), "--no-download")
    assert result.exit_code == 0, result.stderr
    status = fake.invoke("--json", "batch", "status", str(state))
    assert "s3cr3t" not in result.stdout + result.stderr + status.stdout
    db = sqlite3.connect(state)
    specs = [json.loads(r[0]) for r in db.execute("SELECT spec FROM jobs")]
    db.close()
    assert {s["callback"] for s in specs} == {"https://hooks.example.com/astria"}
    sent = {p.get("callback") for p in fake.prompts().values()}
    assert sent == {hook}  # Astria still got the secret


def test_bom_accepted_bad_bytes_and_deep_nesting_reported(fake: FakeThread,
                                                          tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="fast"))["id"]
    good = json.dumps({"tune_id": tune, "text": "ohwx a", "num_images": 1}).encode()
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b"\xef\xbb\xbf" + good + b"\n")
    ok = fake.invoke("--poll-interval", "0.05", "batch", "run", str(jobs), "--no-download")
    assert ok.exit_code == 0, ok.stderr
    jobs.write_bytes(good + b"\n" + b'{"tune_id": 1, "text": "\xff"}\n' + b"[" * 200_000 + b"\n")
    bad = fake.invoke("batch", "run", str(jobs), "--no-download")
    assert bad.exit_code == 1 and "Traceback" not in bad.stderr
    assert f"{jobs}:2: not UTF-8 text" in bad.stderr
    assert f"{jobs}:3: invalid JSON: nested too deeply" in bad.stderr
    assert fake.count("POST", POSTS) == 1
