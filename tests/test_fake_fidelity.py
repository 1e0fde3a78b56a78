"""FakeAstria fidelity found with the official CLI: each test failed before its fix."""

from __future__ import annotations

import aiohttp
import pytest

from astria_async.testing import FakeAstria, sample_images
from astria_async.testing import _prompts as fake_prompts


def _form(fields: list[tuple[str, str]],
          files: tuple[tuple[str, str], ...] = ()) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for key, value in fields:
        form.add_field(key, value)
    for key, path in files:
        with open(path, "rb") as handle:
            form.add_field(key, handle.read(), filename="ref.png", content_type="image/png")
    return form


async def test_one_file_in_image_references_is_stored_as_a_url(fake: FakeAstria) -> None:
    picture = str(sample_images()[0])
    form = _form([("prompt[text]", "a runway"), ("prompt[video_model]", "seedance2_fast_720p"),
                  ("prompt[video_prompt]", "walks")],
                 (("prompt[image_references][]", picture),))
    status, prompt = await fake.call("POST", "/tunes/3618064/prompts", data=form)
    assert status == 201, prompt
    (url,) = prompt["image_references"]
    assert url.startswith(f"{fake.url}/mp/")
    status, stored = await fake.call("GET", url.removeprefix(fake.url))
    assert (status, stored) == (200, sample_images()[0].read_bytes())
    assert (await fake.call("GET", f"/prompts/{prompt['id']}"))[0] == 200
    assert (await fake.call("GET", "/prompts"))[0] == 200


async def test_image_reference_urls_show_in_image_references_in_order(fake: FakeAstria) -> None:
    form = _form([("prompt[video_model]", "seedance2_fast_720p"),
                  ("prompt[video_prompt]", "looks in order"),
                  ("prompt[image_reference_urls][]", "https://example.com/1.jpg"),
                  ("prompt[image_reference_urls][]", "https://example.com/2.jpg")])
    status, prompt = await fake.call("POST", "/tunes/3618064/prompts", data=form)
    assert status == 201, prompt
    assert prompt["image_references"] == ["https://example.com/1.jpg", "https://example.com/2.jpg"]
    assert "image_reference_urls" not in prompt


async def test_an_exception_while_rendering_is_a_recorded_500_and_stores_nothing(
    fake: FakeAstria, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("cannot render")

    monkeypatch.setattr(fake_prompts, "prompt_json", broken)
    status, body = await fake.call("POST", "/tunes/3618064/prompts",
                                   json={"prompt": {"text": "x"}})
    assert (status, body) == (500, {"error": "Internal Server Error"})
    assert [str(e) for e in fake.errors] == ["cannot render"]
    monkeypatch.undo()
    assert fake.prompts == {}  # the half-done create was undone
    assert (await fake.call("GET", "/prompts"))[1] == []
    fake.errors.clear()


async def test_an_unserialisable_answer_is_a_recorded_500(
    fake: FakeAstria, monkeypatch: pytest.MonkeyPatch,
) -> None:
    tune = fake.add_tune(branch="sd15")
    fake.add_prompt(tune["id"])
    monkeypatch.setattr(fake_prompts, "prompt_json", lambda *a, **k: {"x": object()})
    status, _ = await fake.call("GET", f"/tunes/{tune['id']}/prompts")
    assert status == 500 and len(fake.errors) == 1
    fake.errors.clear()


async def test_video_prompts_produce_a_small_valid_mp4(fake: FakeAstria) -> None:
    prompt = fake.add_prompt(3618064, "a fox", video_model="seedance2_fast_720p",
                             video_prompt="the fox runs")
    await fake.advance(10)
    (url,) = fake.prompt(prompt["id"])["images"]
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as response:
        data = await response.read()
        assert (response.status, response.content_type) == (200, "video/mp4")
    assert data[4:8] == b"ftyp" and b"moov" in data and len(data) < 20_000


async def test_a_video_prompt_needs_no_text_when_it_has_a_video_prompt(fake: FakeAstria) -> None:
    body = {"prompt": {"video_model": "seedance2_fast_720p", "video_prompt": "walks"}}
    assert (await fake.call("POST", "/tunes/3618064/prompts", json=body))[0] == 201
    status, answer = await fake.call("POST", "/tunes/3618064/prompts",
                                     json={"prompt": {"video_model": "seedance2_fast_720p"}})
    assert (status, answer) == (422, {"error": "Text can't be blank"})
    status, answer = await fake.call("POST", "/tunes/3618064/prompts", json={"prompt": {
        "video_model": "no_such_model", "video_prompt": "walks"}})
    assert status == 422 and "video_model" in answer["error"]
    # Any id of a known family is accepted, not only the catalogue's few.
    body = {"prompt": {"video_model": "seedance2_pro", "video_prompt": "walks"}}
    assert (await fake.call("POST", "/tunes/3618064/prompts", json=body))[0] == 201


async def test_started_training_at_is_null_until_training_starts(fake: FakeAstria) -> None:
    body = {"tune": {"title": "t", "name": "man", "branch": "flux1",
                     "image_urls": ["https://example.com/a.jpg"]}}
    status, created = await fake.call("POST", "/tunes", json=body)
    assert status == 201
    assert created["started_training_at"] is None and created["eta"] is not None
    await fake.advance(5)
    started = fake.tune(created["id"])
    assert started["started_training_at"] is not None and started["trained_at"] is None
    await fake.advance(30)
    assert fake.tune(created["id"])["trained_at"] is not None


async def test_references_named_only_in_the_video_prompt_count(fake: FakeAstria) -> None:
    ref = fake.add_tune(name="woman", model_type="faceid", base_tune_id=3618064,
                        branch="gemini-2")
    body = {"prompt": {"video_model": "seedance2_fast_720p",
                       "video_prompt": f"<faceid:{ref['id']}:1> woman walks"}}
    status, prompt = await fake.call("POST", "/tunes/3618064/prompts", json=body)
    assert status == 201
    assert [t["id"] for t in prompt["tunes"]] == [ref["id"]]
    body["prompt"]["video_prompt"] = "<faceid:424242:1> woman walks"
    assert (await fake.call("POST", "/tunes/3618064/prompts", json=body))[0] == 422


async def test_created_workspaces_and_packs_carry_their_own_slug_and_time(
    fake: FakeAstria,
) -> None:
    await fake.advance(1000)
    _, space = await fake.call("POST", "/workspaces.json",
                               json={"workspace": {"title": "Client Work"}})
    assert space["slug"] == "client-work"  # the official CLI lists id, title, slug
    _, pack = await fake.call("POST", "/packs", json={"pack": {
        "title": "Mine", "base_tune_id": 3618064}})
    assert pack["created_at"] == space["created_at"] != "2025-01-01T00:00:00.000Z"
