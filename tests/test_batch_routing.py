"""Batch jobs for LoRA tunes: posted to the base model, and found there after a lost answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_batch_run import client_for

from astria_async.batch import BatchRunner, parse_jobs
from astria_async.testing import FakeAstria

BASE = 1504944


@pytest.fixture
async def fake() -> AsyncIterator[FakeAstria]:
    async with FakeAstria(fast_train_seconds=0.1, prompt_seconds=0.1) as running:
        running.add_tune(title="Flux.1 dev", branch="flux1", tune_id=BASE)
        yield running


def on(fake: FakeAstria, tune_id: int) -> list[str]:
    return sorted(p["text"] for p in fake.prompts.values() if p["tune_id"] == tune_id)


def lines(tune_id: int, *texts: str) -> list[str]:
    return [json.dumps({"tune_id": tune_id, "text": t, "num_images": 1}) for t in texts]


async def test_lora_jobs_run_on_the_base_model_with_the_reference(
        fake: FakeAstria, tmp_path: Path) -> None:
    lora = fake.add_tune(branch="flux1", model_type="lora", base_tune_id=BASE)["id"]
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", None).run(
            parse_jobs(lines(lora, "ohwx man", f"<lora:{lora}:1> ohwx woman")))
    assert summary.ok, summary.jobs
    assert fake.count("POST", f"/tunes/{lora}/prompts") == 0
    assert on(fake, BASE) == [f"<lora:{lora}:1> ohwx man", f"<lora:{lora}:1> ohwx woman"]


async def test_a_lost_answer_for_a_lora_job_is_found_on_the_base_model_not_paid_twice(
        fake: FakeAstria, tmp_path: Path) -> None:
    lora = fake.add_tune(branch="flux1", model_type="lora", base_tune_id=BASE)["id"]
    fake.fail(f"/tunes/{BASE}/prompts", 504, after_commit=True, method="POST")
    async with client_for(fake) as client:
        summary = await BatchRunner(client, tmp_path / "s.db", tmp_path / "out", settle=0).run(
            parse_jobs(lines(lora, "ohwx man")))
    assert summary.ok and summary.images == 1
    # Looked up where it was posted (the base model), not sent again.
    assert on(fake, BASE) == [f"<lora:{lora}:1> ohwx man"]


async def test_the_dry_run_reports_routed_lines(fake: FakeAstria, tmp_path: Path) -> None:
    lora = fake.add_tune(branch="flux1", model_type="lora", base_tune_id=BASE)["id"]
    plain = fake.add_tune(branch="sd15")["id"]  # a checkpoint: posted to as it is
    async with client_for(fake) as client:
        plan = await BatchRunner(client, tmp_path / "s.db", None).plan(
            parse_jobs([*lines(plain, "ohwx a"), *lines(lora, "ohwx b")]))
    assert plan.routed == (f"line 2: lora tune {lora} runs on its base model {BASE}, "
                           f"<lora:{lora}:1> added to the text",)
    assert fake.count("POST", "/tunes/*/prompts") == 0
