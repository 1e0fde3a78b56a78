"""Model-family rules, checked before sending when the target model is known."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from astria_async import AstriaClient, InvalidParamsError, PromptParams, Tune
from astria_async.testing import FakeAstria

IMAGE = "https://example.com/a.jpg"


@pytest.fixture
async def client(fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(fake.api_key, base_url=fake.url) as c:
        yield c


@pytest.mark.parametrize(("target", "kwargs", "field", "model"), [
    (1504944, {"negative_prompt": "blurry"}, "negative_prompt", "1504944"),
    (1504944, {"cfg_scale": 5}, "cfg_scale", "Flux"),
    ("seedream", {"num_images": 5}, "num_images", "seedream (tune 3691308)"),
    (3225353, {"num_images": 8}, "num_images", "Seedream"),
    ("gemini", {"video_model": "seedance2_pro_1080p", "video_first_frame_url": IMAGE,
                "image_reference_urls": [IMAGE]}, "image_reference_urls", "seedance2_pro_1080p"),
])
async def test_family_rules_refuse_before_sending(
        fake: FakeAstria, client: AstriaClient, target: int | str, kwargs: dict[str, object],
        field: str, model: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await client.prompts.create(target, text="a portrait", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert model in str(info.value)
    assert fake.count("POST", "*") == 0


async def test_a_flux_tune_object_is_known_by_its_branch(fake: FakeAstria,
                                                         client: AstriaClient) -> None:
    with pytest.raises(InvalidParamsError, match="cfg_scale"):
        await client.prompts.create(Tune(id=424242, branch="flux1"), text="x", cfg_scale=7.5)
    assert fake.requests == []
    krea = await client.tunes.get(1504944)
    assert krea.branch == "flux1"
    made = await client.prompts.create(krea, text="x", cfg_scale=3)
    assert made.cfg_scale == 3


async def test_what_each_family_allows_is_sent(fake: FakeAstria, client: AstriaClient) -> None:
    await client.prompts.create("seedream", text="a fox", num_images=4)
    await client.prompts.create(1504944, text="a fox", cfg_scale=4.5)
    sd15 = fake.add_tune(branch="sd15")
    await client.prompts.create(sd15["id"], text="a fox", negative_prompt="blur", cfg_scale=9)
    await client.prompts.create("gemini", text="a fox", video_model="seedance2_pro_1080p",
                                video_first_frame_url=IMAGE, video_last_frame_url=IMAGE)
    assert fake.count("POST", "/tunes/*/prompts") == 4


async def test_a_tunes_own_prompts_follow_its_base_family(fake: FakeAstria,
                                                          client: AstriaClient) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await client.tunes.create(
            title="t", name="man", image_urls=[IMAGE], branch="flux1",
            prompts=[PromptParams(text="ok"), PromptParams(text="x", negative_prompt="ugly")])
    assert info.value.field == "prompts[1].negative_prompt"
    assert fake.count("POST", "*") == 0


async def test_a_routed_lora_follows_its_base_models_family(fake: FakeAstria,
                                                            client: AstriaClient) -> None:
    lora = await client.tunes.get(fake.add_tune(branch="flux1", model_type="lora")["id"])
    with pytest.raises(InvalidParamsError) as info:
        await client.prompts.create(lora, text="ohwx man", cfg_scale=6)
    assert info.value.field == "cfg_scale" and "1504944" in str(info.value)
    made = await client.prompts.create(lora, text="ohwx man", cfg_scale=3)
    assert made.tune_id == 1504944
