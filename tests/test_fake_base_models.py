"""FakeAstria records the base model of LoRA/FaceID tunes and refuses prompts posted to them,
as Astria does (API notes §2, §3.4, §5.1)."""

from __future__ import annotations

import pytest

from astria_async.testing import FakeAstria

FLUX_DEV, SD15_RV51, SDXL_BASE = 1504944, 690204, 666678


@pytest.mark.parametrize(("branch", "model_type", "base"), [
    ("flux1", "lora", FLUX_DEV), ("flux1", None, FLUX_DEV), ("sd15", "lora", SD15_RV51),
    ("flux1", "faceid", FLUX_DEV), ("sd15", "faceid", SD15_RV51),
])
async def test_lora_and_faceid_tunes_name_their_base_model(
        fake: FakeAstria, branch: str, model_type: str | None, base: int) -> None:
    tune: dict[str, object] = {"title": "t", "name": "man", "branch": branch,
                               "image_urls": ["https://example.com/a.jpg"]}
    if model_type is not None:
        tune["model_type"] = model_type
    status, created = await fake.call("POST", "/tunes", json={"tune": tune})
    assert status == 201
    assert created["base_tune_id"] == base
    assert fake.tune(created["id"])["base_tune_id"] == base  # stored, not just rendered
    assert fake.add_tune(branch=branch, model_type=model_type)["base_tune_id"] == base


async def test_a_given_base_model_is_kept_and_checkpoints_have_none(fake: FakeAstria) -> None:
    assert fake.add_tune(model_type="lora", base_tune_id=FLUX_DEV)["base_tune_id"] == FLUX_DEV
    assert fake.add_tune(branch="sdxl1", model_type="faceid",
                         base_tune_id=SDXL_BASE)["base_tune_id"] == SDXL_BASE
    assert fake.add_tune(branch="sd15")["base_tune_id"] is None  # a full checkpoint


@pytest.mark.parametrize("model_type", ["lora", "faceid"])
async def test_prompts_posted_to_a_lora_or_faceid_tune_are_refused(
        fake: FakeAstria, model_type: str) -> None:
    tune = fake.add_tune(model_type=model_type)
    body = {"prompt": {"text": "a photo", "num_images": 1}}
    status, answer = await fake.call("POST", f"/tunes/{tune['id']}/prompts", json=body)
    assert status == 422
    assert f"model_type={model_type} is not supported. Use a checkpoint instead" in str(answer)
    # On its base model, with its token, it runs.
    kind = "faceid" if model_type == "faceid" else "lora"
    body["prompt"]["text"] = f"<{kind}:{tune['id']}:1> a photo"
    status, prompt = await fake.call("POST", f"/tunes/{tune['base_tune_id']}/prompts", json=body)
    assert status == 201 and prompt["tune_id"] == tune["base_tune_id"]
