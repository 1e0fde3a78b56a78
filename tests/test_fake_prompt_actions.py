"""FakeAstria: duplicate, likes, debug images, list filters and Rails path leniency."""

from __future__ import annotations

from typing import Any

from astria_async.testing import FakeAstria


async def _finished(fake: FakeAstria, text: str = "a photo", **attrs: Any) -> dict[str, Any]:
    prompt = fake.add_prompt(3618064, text, **attrs)
    await fake.advance(10)
    return fake.prompt(prompt["id"])


async def test_duplicate_copies_with_overrides(fake: FakeAstria) -> None:
    original = await _finished(fake, "a red fox", num_images=2, seed=7, aspect_ratio="3:4")
    status, copy = await fake.call("POST", f"/prompts/{original['id']}/duplicate",
                                   json={"prompt": {"seed": 8}})
    assert status == 201
    assert copy["id"] != original["id"] and copy["orig_prompt_id"] == original["id"]
    assert (copy["text"], copy["num_images"], copy["aspect_ratio"], copy["seed"]) == (
        "a red fox", 2, "3:4", 8)
    assert copy["tune_id"] == original["tune_id"] and copy["images"] == []


async def test_duplicate_image_index_animates_that_image(fake: FakeAstria) -> None:
    original = await _finished(fake, "a red fox", num_images=2)
    body = {"image_index": 1, "prompt": {"video_model": "seedance2_fast_720p",
                                         "video_prompt": "the fox runs"}}
    status, video = await fake.call("POST", f"/prompts/{original['id']}/duplicate", json=body)
    assert status == 201
    assert video["video_first_frame"] == original["images"][1]
    status, still = await fake.call("POST", f"/prompts/{original['id']}/duplicate",
                                    json={"image_index": 0})
    assert still["input_image"] == original["images"][0]
    for index in (2, -1, "x"):
        status, body = await fake.call("POST", f"/prompts/{original['id']}/duplicate",
                                       json={"image_index": index})
        assert status == 422 and "image_index" in body["error"]
    pending = fake.add_prompt(3618064, "not yet")
    status, body = await fake.call("POST", f"/prompts/{pending['id']}/duplicate",
                                   json={"image_index": 0})
    assert (status, body) == (422, {"error": "The prompt has no images yet"})
    assert (await fake.call("POST", "/prompts/1/duplicate", json={}))[0] == 404
    assert (await fake.call("POST", f"/prompts/{pending['id']}/duplicate",
                            json={"prompt": "x"}))[0] == 400


async def test_like_and_unlike(fake: FakeAstria) -> None:
    template = await _finished(fake, "template")
    prompt = fake.add_prompt(3618064, "from a pack", orig_prompt_id=template["id"])
    for path in (f"/prompts/{prompt['id']}/likes", f"/prompts/{prompt['id']}/like"):
        assert await fake.call("POST", path) == (201, b"")
    liked = fake.prompt(prompt["id"])
    assert (liked["liked"], liked["prompt_likes_count"]) == (True, 1)
    assert fake.prompt(template["id"])["liked"]  # the pack's original is liked too
    _, only_liked = await fake.call("GET", "/prompts", params={"liked": "true"})
    assert {p["id"] for p in only_liked} == {prompt["id"], template["id"]}
    assert await fake.call("DELETE", f"/prompts/{prompt['id']}/likes") == (204, b"")
    assert fake.prompt(prompt["id"])["liked"] is False
    assert (await fake.call("POST", "/prompts/5/likes"))[0] == 404


async def test_expand_debug_images_on_get_and_list(fake: FakeAstria) -> None:
    prompt = await _finished(fake, num_images=2)
    assert "debug_images" not in prompt
    for params in ({"expand[]": "debug_images"}, {"expand": "debug_images"}):
        _, one = await fake.call("GET", f"/prompts/{prompt['id']}.json", params=params)
        assert one["debug_images"] == prompt["images"]
        assert one["debug_content_types"] == ["image/png", "image/png"]
        assert len(one["debug_filenames"]) == 2
    _, page = await fake.call("GET", "/prompts", params={"expand[]": "debug_images"})
    assert page[0]["debug_images"] == prompt["images"]


async def test_list_flags_filter(fake: FakeAstria) -> None:
    old = fake.add_prompt(3618064, "yesterday")
    await fake.advance(86400)
    video = fake.add_prompt(3618064, "clip", video_model="seedance2_fast_720p")
    web = fake.add_prompt(3618064, "made in the web app", is_api=False)
    assert web["is_api"] is False

    async def ids(**params: str) -> set[int]:
        return {p["id"] for p in (await fake.call("GET", "/prompts", params=params))[1]}

    assert await ids() == {old["id"], video["id"], web["id"]}
    assert await ids(today="true") == {video["id"], web["id"]}
    assert await ids(is_video="true") == {video["id"]}
    assert await ids(is_api="true") == {old["id"], video["id"]}
    assert await ids(liked="true") == set()
    assert await ids(is_video="false") == {old["id"], video["id"], web["id"]}


async def test_trailing_slashes_route_like_rails(fake: FakeAstria) -> None:
    tune = fake.add_tune()
    prompt = fake.add_prompt(tune["id"])
    for path in ("/tunes/", "/prompts/", f"/tunes/{tune['id']}/", f"/prompts/{prompt['id']}/",
                 "/users/", "/cli/models/"):
        assert (await fake.call("GET", path))[0] == 200, path
    assert fake.count("GET", "/tunes") == 1
