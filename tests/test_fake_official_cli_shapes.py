"""The official Astria CLI's request shapes (curl multipart/JSON, Expect: 100-continue, retries)
sent with plain aiohttp to FakeAstria: every one must be understood as Astria would."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from astria_async.testing import FakeAstria, FakeClock, png_of_size, sample_images

UA = "astria-cli/1.14.0 (Linux; 6.1; x86_64; Python/3.11.7)"
Field = tuple[str, "str | Path"]


@pytest.fixture
def fake_options() -> dict[str, Any]:
    return {"workspaces": (77,)}


def curl_form(fields: list[Field]) -> aiohttp.FormData:
    """Like curl: ``--form-string key=value`` parts, ``-F key=@path`` file parts."""
    form = aiohttp.FormData()
    for key, value in fields:
        if isinstance(value, Path):
            kind = "image/png" if value.suffix == ".png" else "application/octet-stream"
            form.add_field(key, io.BytesIO(value.read_bytes()), filename=value.name,
                           content_type=kind)
        else:
            form.add_field(key, value)
    return form


async def cli(fake: FakeAstria, method: str, path: str, *, form: list[Field] | None = None,
              body: Any = None, query: list[tuple[str, str]] | None = None,
              workspace: str | None = None, expect100: bool = False) -> tuple[int, Any]:
    """One request as the official CLI's curl sends it."""
    headers = {"User-Agent": UA, "Accept": "application/json",
               "Authorization": f"Bearer {fake.api_key}"}
    if workspace is not None:
        headers["X-Workspace-Id"] = workspace
    data: Any = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    elif form is not None:
        data = curl_form(form)
    async with aiohttp.ClientSession() as session, session.request(
        method, fake.url + path, params=query, data=data, headers=headers, expect100=expect100,
    ) as response:
        raw = await response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw


async def test_reference_tunes_and_characteristics_as_the_cli_sends_them(
    fake: FakeAstria,
) -> None:
    picture = sample_images()[0]
    status, ref = await cli(fake, "POST", "/tunes", form=[
        ("tune[title]", picture.stem), ("tune[name]", "woman"), ("tune[model_type]", "faceid"),
        ("tune[base_tune_id]", "3618064"), ("tune[images][]", picture)])
    assert status == 201 and ref["trained_at"] is not None  # references are usable at once
    assert (ref["name"], ref["model_type"], ref["base_tune_id"]) == ("woman", "faceid", 3618064)
    status, described = await cli(fake, "POST", "/tunes", form=[
        ("tune[title]", "dress"), ("tune[name]", "dress"), ("tune[model_type]", "faceid"),
        ("tune[base_tune_id]", "3618064"),
        ("tune[characteristics]", '{"short_description": "red silk"}'),
        ("tune[image_urls][]", "https://example.com/a.jpg"),
        ("tune[image_urls][]", "https://example.com/b.jpg")])
    assert status == 201 and described["characteristics"] == {"short_description": "red silk"}
    assert len(described["orig_images"]) == 2
    status, updated = await cli(fake, "PATCH", f"/tunes/{ref['id']}", form=[
        ("tune[title]", "renamed"), ("tune[characteristics]", '{"short_description": "x"}')])
    assert (status, updated["title"]) == (200, "renamed")


async def test_generate_with_a_large_input_image_and_expect_100_continue(
    fake: FakeAstria, tmp_path: Path,
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(png_of_size(2 * 1024 * 1024))  # curl adds Expect: 100-continue over 1 MB
    status, prompt = await cli(fake, "POST", "/tunes/3618064/prompts", expect100=True, form=[
        ("prompt[text]", "woman, white studio"), ("prompt[num_images]", "1"),
        ("prompt[seed]", "42"), ("prompt[aspect_ratio]", "3:4"), ("prompt[resolution]", "2K"),
        ("prompt[input_image]", big),
        ("prompt[mask_image_url]", "https://example.com/mask.png")])
    assert status == 201, prompt
    assert (prompt["num_images"], prompt["seed"], prompt["aspect_ratio"]) == (1, 42, "3:4")
    assert prompt["mask_image"] == "https://example.com/mask.png"
    stored = await cli(fake, "GET", prompt["input_image"].removeprefix(fake.url))
    assert stored == (200, big.read_bytes())
    await fake.advance(10)
    status, polled = await cli(fake, "GET", f"/prompts/{prompt['id']}.json")
    assert status == 200 and len(polled["images"]) == 1 and polled["user_error"] is None


async def test_generate_with_references_in_the_text(fake: FakeAstria) -> None:
    ref = fake.add_tune(name="woman", model_type="faceid", base_tune_id=3618064,
                        branch="gemini-2")
    text = f"<faceid:{ref['id']}:1> woman wearing a red dress"
    status, prompt = await cli(fake, "POST", "/tunes/3618064/prompts", form=[
        ("prompt[text]", text), ("prompt[num_images]", "2"), ("prompt[aspect_ratio]", "3:4"),
        ("prompt[pack_id]", "260"), ("prompt[base_pack_id]", "260")])
    assert status == 201, prompt
    assert prompt["tunes"][0]["id"] == ref["id"] and prompt["pack_id"] == 260


@pytest.mark.parametrize("files", [True, False])
async def test_video_as_the_cli_sends_it(fake: FakeAstria, files: bool) -> None:
    first, second = sample_images()[:2]
    references: list[Field] = (
        [("prompt[image_references][]", first), ("prompt[image_references][]", second)] if files
        else [("prompt[image_reference_urls][]", "https://example.com/1.jpg"),
              ("prompt[image_reference_urls][]", "https://example.com/2.jpg")])
    status, prompt = await cli(fake, "POST", "/tunes/3618064/prompts", form=[
        ("prompt[num_images]", "2"), ("prompt[aspect_ratio]", "3:4"),
        ("prompt[video_model]", "seedance2_fast_720p"),
        ("prompt[video_prompt]", "transition through these looks in order"), *references,
        ("prompt[video_duration]", "5"), ("prompt[generate_audio]", "false")])
    assert status == 201, prompt
    assert len(prompt["image_references"]) == 2
    if files:
        for url, path in zip(prompt["image_references"], (first, second), strict=True):
            assert await cli(fake, "GET", url.removeprefix(fake.url)) == (200, path.read_bytes())
    else:
        assert prompt["image_references"][0] == "https://example.com/1.jpg"
    assert (prompt["video_duration"], prompt["generate_audio"]) == (5, False)
    await fake.advance(10)
    (video,) = fake.prompt(prompt["id"])["images"]
    assert (await cli(fake, "GET", video.removeprefix(fake.url)))[1][4:8] == b"ftyp"
    keyframes: list[Field] = [
        ("prompt[video_prompt]", "walks"),
        ("prompt[video_first_frame_url]", "https://example.com/f.jpg"),
        ("prompt[video_last_frame]", first)]
    status, frames = await cli(fake, "POST", "/tunes/3618064/prompts", form=[
        ("prompt[video_model]", "kling25_turbo_pro"), *keyframes])
    assert status == 201, frames
    assert frames["video_first_frame"] == "https://example.com/f.jpg"
    assert frames["video_last_frame"].startswith(fake.url)
    status, motion = await cli(fake, "POST", "/tunes/3618064/prompts", form=[
        ("prompt[video_model]", "dreamactor_m2"), ("prompt[video_prompt]", "dance"),
        ("prompt[input_video_url]", "https://e.com/v.mp4"),
        ("prompt[audio_reference_url]", "https://example.com/a.mp3")])
    assert (status, motion["input_video"]) == (201, "https://e.com/v.mp4")
    # Seedance 2 starts from frames or from reference media, not both (API notes §5.1).
    status, refused = await cli(fake, "POST", "/tunes/3618064/prompts", form=[
        ("prompt[video_model]", "seedance2_fast_720p"), *keyframes, *references])
    assert status == 422 and "cannot be combined with video_first_frame_url" in refused["error"]


async def test_prompts_update_list_and_get_as_the_cli_sends_them(fake: FakeAstria) -> None:
    lora = fake.add_tune(branch="flux1")
    prompt = fake.add_prompt(lora["id"], "ohwx man")
    status, moved = await cli(fake, "PATCH", f"/tunes/1504944/prompts/{prompt['id']}", form=[
        ("prompt[pack_id]", "260"), ("prompt[base_pack_id]", "261"),
        ("prompt[workspace_id]", "77")])
    assert status == 200, moved
    assert (moved["pack_id"], moved["base_pack_id"]) == (260, 261)
    # --tune-id goes both in the path and as a query parameter.
    status, listed = await cli(fake, "GET", "/tunes/1504944/prompts", workspace="77", query=[
        ("tune_id", "1504944"), ("pack_id", "260"), ("liked", "true"),
        ("expand[]", "debug_images"), ("limit", "10"), ("offset", "0")])
    assert (status, listed) == (200, [])  # not liked yet
    await cli(fake, "POST", f"/prompts/{prompt['id']}/likes")
    _, listed = await cli(fake, "GET", "/tunes/1504944/prompts", workspace="77", query=[
        ("tune_id", "1504944"), ("liked", "true"), ("expand[]", "debug_images")])
    assert [p["id"] for p in listed] == [prompt["id"]] and "debug_images" in listed[0]
    status, one = await cli(fake, "GET", f"/tunes/1504944/prompts/{prompt['id']}",
                            query=[("expand[]", "debug_images")])
    assert status == 200 and "debug_filenames" in one


async def test_tunes_list_queries(fake: FakeAstria) -> None:
    fake.add_tune(title="red dress", name="dress", model_type="faceid", base_tune_id=3618064,
                  branch="gemini-2")
    fake.add_tune(title="me", name="man")
    status, found = await cli(fake, "GET", "/tunes", query=[
        ("title", "dress"), ("name[]", "dress"), ("name[]", "woman"), ("model_type", "faceid"),
        ("branch", "gemini-2"), ("limit", "5"), ("offset", "0")])
    assert status == 200 and [t["title"] for t in found] == ["red dress"]
    status, gallery = await cli(fake, "GET", "/gallery/tunes",
                                query=[("branch", "partner-1"), ("limit", "200")])
    assert status == 200 and {3618064, 3691308, 4665564} <= {t["id"] for t in gallery}


async def test_packs_and_workspaces_as_the_cli_sends_them(fake: FakeAstria) -> None:
    status, pack = await cli(fake, "POST", "/packs", body={"pack": {
        "title": "Spring lookbook", "base_tune_id": 3618064, "model_type": "faceid",
        "subtitle": "pastels"}})
    assert status == 201 and pack["slug"] == "spring-lookbook"
    assert (await cli(fake, "GET", "/p/spring-lookbook.json"))[0] == 200
    status, packs = await cli(fake, "GET", "/packs", query=[("limit", "5"), ("offset", "0")])
    assert status == 200 and pack["id"] in [p["id"] for p in packs]
    man = fake.add_tune(name="man")
    status, run = await cli(fake, "POST", "/p/corporate-headshots/tunes", form=[
        ("tune[tune_ids][]", str(man["id"])), ("tune[prompt_ids][]", "9000101"),
        ("tune[prompt_ids][]", "9000103"), ("tune[brief]", "warm light"),
        ("tune[prompt_attributes][num_images]", "1"),
        ("tune[prompt_attributes][aspect_ratio]", "3:4"),
        ("tune[prompt_attributes][inpaint_faces]", "true")])
    assert status == 201, run
    made = [p for p in fake.prompts.values() if p["base_pack_id"] == 260]
    assert len(made) == 2 and all(p["num_images"] == 1 for p in made)
    # workspaces: no X-Workspace-Id; landing: with it.
    status, space = await cli(fake, "POST", "/workspaces.json",
                              body={"workspace": {"title": "Clients"}})
    assert status == 201
    ws = str(space["id"])
    assert (await cli(fake, "GET", "/workspaces.json"))[1][-1]["id"] == space["id"]
    status, landed = await cli(fake, "PATCH", f"/workspaces/{ws}.json", workspace=ws,
                               body={"workspace": {"landing_page_html": "<p>hi</p>"}})
    assert (status, landed["landing_page_html"]) == (200, "<p>hi</p>")
    status, landed = await cli(fake, "PATCH", f"/workspaces/{ws}.json", workspace=ws,
                               body={"workspace": {"brief": "moody"}})
    assert (await cli(fake, "GET", f"/workspaces/{ws}.json", workspace=ws))[1]["brief"] == "moody"


async def test_workspace_literals_and_account_calls(fake: FakeAstria) -> None:
    fake.add_tune(title="personal one")
    assert len((await cli(fake, "GET", "/tunes", workspace="personal"))[1]) == 1  # -w personal
    assert len((await cli(fake, "GET", "/tunes", workspace="all"))[1]) == 1  # -w all
    status, me = await cli(fake, "GET", "/users")
    assert status == 200 and me["usd_balance_mc"] > 0
    async with aiohttp.ClientSession() as session, session.get(
        f"{fake.url}/cli/models", headers={"User-Agent": UA, "Accept": "application/json"},
    ) as response:
        assert response.status == 200 and "gemini" in (await response.json())["models"]


async def test_curl_retry_re_posts_after_a_504_that_committed() -> None:
    """curl --retry 2 re-sends a POST after 504: without idempotency Astria makes two."""
    for idempotent, expected in ((False, 2), (True, 1)):
        async with FakeAstria(clock=FakeClock.manual(), idempotent=idempotent) as fake:
            fake.fail("/tunes/3618064/prompts", 504, after_commit=True)
            form: list[Field] = [("prompt[text]", "a fox"), ("prompt[num_images]", "2"),
                                 ("prompt[aspect_ratio]", "3:4")]
            first = await cli(fake, "POST", "/tunes/3618064/prompts", form=form)
            again = await cli(fake, "POST", "/tunes/3618064/prompts", form=form)
            assert (first[0], again[0]) == (504, 201)
            assert len(fake.prompts) == expected
            assert fake.errors == []


async def test_curl_retry_after_429_then_success(fake: FakeAstria) -> None:
    fake.fail("/tunes/3618064/prompts", 429, retry_after=1)
    form: list[Field] = [("prompt[text]", "a fox")]
    status, body = await cli(fake, "POST", "/tunes/3618064/prompts", form=form)
    assert (status, body) == (429, {"error": "Too Many Requests"})
    assert fake.requests[-1].fault == "fail" and fake.prompts == {}
    assert (await cli(fake, "POST", "/tunes/3618064/prompts", form=form))[0] == 201
    assert len(fake.prompts) == 1


async def test_errors_carry_error_or_message_for_the_cli(fake: FakeAstria) -> None:
    status, body = await cli(fake, "POST", "/tunes/1504944/prompts", form=[
        ("prompt[text]", "x"), ("prompt[cfg_scale]", "7")])
    assert status == 422 and "cfg_scale" in body
    status, body = await cli(fake, "POST", "/tunes/3618064/prompts", form=[
        ("prompt[text]", "x"), ("prompt[num_images]", "many")])
    assert status == 422 and "num_images" in body["error"]
    assert (await cli(fake, "GET", "/prompts/1.json"))[1] == {"error": "Record not found"}
