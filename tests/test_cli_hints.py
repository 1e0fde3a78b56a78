"""Library hints that name `AstriaClient(...)` options, said the CLI's way (flags, commands)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_batch_cli import write_jobs
from test_cli_support import FakeThread, stdout_json

from astria_async.cli._root import cli_terms
from astria_async.waiting import fairuse

LIMITS = ("prompts_per_tune", "max_images", "max_in_flight", "max_in_flight_per_tune")


@pytest.fixture
def fake() -> Iterator[FakeThread]:
    with FakeThread() as running:
        yield running


def test_batch_refusals_name_the_batch_flags(fake: FakeThread, tmp_path: Path) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="sd15"))["id"]
    jobs = write_jobs(tmp_path / "jobs.jsonl", tune, 3, num_images=1)
    result = fake.invoke("--poll-interval", "0.05", "batch", "run", str(jobs), "--no-download",
                         "--fair-use-cap", "1")
    assert result.exit_code == 1
    shown = " ".join(result.stdout.replace("│", " ").split())  # the "not done" table
    assert "change it with --fair-use-cap N, or turn the guard off with --no-fair-use" in shown
    assert "AstriaClient" not in result.stdout + result.stderr


def test_a_504_create_says_what_a_cli_user_can_do(fake: FakeThread) -> None:
    tune = fake.call(lambda f: f.add_tune(branch="sd15"))["id"]
    fake.call(lambda f: f.fail(f"/tunes/{tune}/prompts", 504))
    result = fake.invoke("prompts", "create", str(tune), "ohwx man")
    assert result.exit_code == 1
    assert "AstriaClient" not in result.stderr
    assert "not re-sent" in result.stderr and "`astria prompts list`" in result.stderr
    fake.call(lambda f: f.fail(f"/tunes/{tune}/prompts", 504))
    as_json = fake.invoke("--json", "prompts", "create", str(tune), "ohwx man")
    message = stdout_json(as_json)["error"]["message"]
    assert "AstriaClient" not in message and "`astria prompts list`" in message


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("batch", [False, True])
def test_every_fair_use_hint_is_rewritten(limit: str, batch: bool) -> None:
    # The library's own wording (waiting/fairuse.py): a change there must update the CLI.
    text = "nothing was sent; " + fairuse._HOW.format(field=limit)
    said = cli_terms(text, batch=batch)
    assert "AstriaClient" not in said and "FairUsePolicy(" not in said
    if batch:
        assert "--no-fair-use" in said
    if limit == "max_images":
        assert "fewer images" in said
    elif batch:
        assert "--" + limit.replace("max_", "").replace("_", "-") in said.replace(
            "--fair-use-cap", "--prompts-per-tune")
    else:
        assert "astria batch run" in said


def test_other_messages_are_left_alone() -> None:
    text = "tune 7 is not trained yet; nothing was sent"
    assert cli_terms(text) == text == cli_terms(text, batch=True)
