"""Prompt update, duplicate, likes and expand: wire shapes, validation, and the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_resources_wire import PNG, Recorder, client, server

from astria_async import (
    AstriaClient,
    FairUseError,
    FairUsePolicy,
    InvalidParamsError,
    PromptParams,
)
from astria_async.testing import FakeAstria

__all__ = ["client", "server"]  # fixtures used below


async def test_update_patches_the_given_fields(server: Recorder, client: AstriaClient) -> None:
    server.answer = {"id": 5, "pack_id": 260}
    prompt = await client.prompts.update(5, pack_id=260, workspace_id=42)
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("PATCH", "/prompts/5")
    assert seen.json == {"prompt": {"pack_id": 260, "workspace_id": 42}}
    assert prompt.pack_id == 260
    await client.prompts.update(5, tune_id=9, base_pack_id=3, orig_prompt_id=4)
    assert server.seen[1].path == "/tunes/9/prompts/5"
    assert server.seen[1].json == {"prompt": {"base_pack_id": 3, "orig_prompt_id": 4}}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({}, "prompt"), ({"pack_id": 0}, "pack_id"), ({"workspace_id": "42"}, "workspace_id")])
async def test_update_refuses_bad_input(server: Recorder, client: AstriaClient,
                                        kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await client.prompts.update(5, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and server.seen == []


async def test_duplicate_sends_overrides_and_image_index(server: Recorder,
                                                         client: AstriaClient) -> None:
    server.answer = {"id": 6, "orig_prompt_id": 5}
    copy = await client.prompts.duplicate(5, image_index=1, video_model="kling25_turbo_pro",
                                          video_prompt="she waves")
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("POST", "/prompts/5/duplicate")
    assert seen.json == {"prompt": {"video_model": "kling25_turbo_pro",
                                    "video_prompt": "she waves"}, "image_index": 1}
    assert copy.id == 6 and copy.orig_prompt_id == 5
    await client.prompts.duplicate(5, params=PromptParams(seed=3), num_images=2)
    assert server.seen[1].json == {"prompt": {"seed": 3, "num_images": 2}}
    await client.prompts.duplicate(5)
    assert server.seen[2].json == {}
    await client.prompts.duplicate(5, image_index=0, video_first_frame=PNG)
    form = server.seen[3].form
    assert form["image_index"] == ["0"] and form["prompt[video_first_frame]"][0][2] == PNG


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"colour": "red"}, "colour"), ({"image_index": -1}, "image_index"),
    ({"num_images": 9}, "num_images"), ({"params": {"seed": 1}}, "params")])
async def test_duplicate_refuses_bad_input(server: Recorder, client: AstriaClient,
                                           kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await client.prompts.duplicate(5, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and server.seen == []


async def test_like_and_unlike(server: Recorder, client: AstriaClient) -> None:
    await client.prompts.like(5)
    await client.prompts.unlike(5)
    assert [(s.method, s.path) for s in server.seen] == [
        ("POST", "/prompts/5/like"), ("DELETE", "/prompts/5/like")]


async def test_expand_on_get_and_list(server: Recorder, client: AstriaClient) -> None:
    server.answer = {"id": 5, "debug_images": ["https://example.com/d"]}
    prompt = await client.prompts.get(5, expand=["debug_images"])
    assert server.seen[0].query == [("expand[]", "debug_images")]
    assert prompt.debug_images == ("https://example.com/d",)
    server.answer = []
    await client.prompts.list(liked=True, is_video=True, expand=["debug_images"])
    assert ("expand[]", "debug_images") in server.seen[1].query
    assert ("liked", "true") in server.seen[1].query
    with pytest.raises(InvalidParamsError, match="expand"):
        await client.prompts.get(5, expand=["everything"])


@pytest.fixture
async def fake_client(fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(fake.api_key, base_url=fake.url) as c:
        yield c


async def test_update_end_to_end(fake: FakeAstria, fake_client: AstriaClient) -> None:
    tune = fake.add_tune(branch="fast")
    made = fake.add_prompt(tune["id"], "ohwx man")
    prompt = await fake_client.prompts.update(made["id"], base_pack_id=260)
    assert prompt.base_pack_id == 260
    assert (await fake_client.prompts.get(made["id"])).base_pack_id == 260


async def test_duplicate_like_and_expand_end_to_end(fake: FakeAstria,
                                                    fake_client: AstriaClient) -> None:
    tune = fake.add_tune(branch="fast")
    made = fake.add_prompt(tune["id"], "ohwx man", num_images=2)
    await fake.advance(3600)
    copy = await fake_client.prompts.duplicate(made["id"], image_index=1, num_images=1,
                                               video_model="kling25_turbo_pro",
                                               video_prompt="he waves")
    assert copy.id != made["id"] and copy.orig_prompt_id == made["id"]
    assert copy.video_model == "kling25_turbo_pro"
    await fake_client.prompts.like(made["id"])
    liked = await fake_client.prompts.list(liked=True)
    assert [p.id for p in liked] == [made["id"]] and liked[0].liked is True
    await fake_client.prompts.unlike(made["id"])
    assert await fake_client.prompts.list(liked=True) == []
    got = await fake_client.prompts.get(made["id"], expand=["debug_images"])
    assert got.debug_images
    assert not (await fake_client.prompts.get(made["id"])).debug_images


async def test_a_duplicate_counts_against_the_tunes_fair_use(fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")["id"]
    policy = FairUsePolicy(prompts_per_tune=2, automatic_prompts=0)
    async with AstriaClient(fake.api_key, base_url=fake.url, fair_use=policy) as client:
        first = await client.prompts.create(tune, text="ohwx man")
        await client.prompts.duplicate(first.id, seed=1)  # a bare id: counted from the answer
        assert client.fair_use.count(tune) == 2
        sent = fake.count("POST", "*")
        with pytest.raises(FairUseError) as info:  # the Prompt says its tune: refused first
            await client.prompts.duplicate(first, seed=2)
    assert info.value.tune_id == tune and info.value.used == 2
    assert fake.count("POST", "*") == sent
