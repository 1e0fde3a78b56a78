"""FakeAstria: JSON and Rails-style multipart bodies, and the 422 answers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from astria_async.testing import FakeAstria, sample_images
from astria_async.testing._rails import ParamError, UploadedFile, parse_pairs

URL = "https://example.com/a.jpg"


def test_rails_arrays_hashes_and_indexes() -> None:
    params = parse_pairs([
        ("tune[title]", "t"),
        ("tune[image_urls][]", "a"),
        ("tune[image_urls][]", "b"),
        ("tune[prompts_attributes][][text]", "one"),
        ("tune[prompts_attributes][][num_images]", "2"),
        ("tune[prompts_attributes][][text]", "two"),
        ("tune[characteristics][eye_color]", "blue"),
        ("other[1][text]", "second"),
        ("other[0][text]", "first"),
    ])
    assert params == {
        "tune": {
            "title": "t",
            "image_urls": ["a", "b"],
            "prompts_attributes": [{"text": "one", "num_images": "2"}, {"text": "two"}],
            "characteristics": {"eye_color": "blue"},
        },
        "other": [{"text": "first"}, {"text": "second"}],
    }


def test_rails_conflicts_are_param_errors() -> None:
    with pytest.raises(ParamError):
        parse_pairs([("a", "1"), ("a[b]", "2")])
    with pytest.raises(ParamError):
        parse_pairs([("a[]", "1"), ("a[b]", "2")])
    with pytest.raises(ParamError):
        parse_pairs([("[oops", "1")])


def _form(fields: list[tuple[str, Any]]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields:
        if isinstance(value, UploadedFile):
            form.add_field(name, value.data, filename=value.filename,
                           content_type=value.content_type)
        else:
            form.add_field(name, value)
    return form


async def test_multipart_tune_create_parsed_like_rails(fake: FakeAstria) -> None:
    images = [UploadedFile(p.name, "image/png", p.read_bytes()) for p in sample_images()]
    assert len(images) == 3
    form = _form([
        ("tune[title]", "job-1"), ("tune[name]", "woman"), ("tune[branch]", "sd15"),
        ("tune[face_crop]", "true"), ("tune[steps]", "500"),
        ("tune[characteristics][eye_color]", "green"),
        *[("tune[images][]", image) for image in images],
        ("tune[image_urls][]", URL),
        ("tune[prompts_attributes][0][text]", "sks woman, portrait"),
        ("tune[prompts_attributes][0][num_images]", "3"),
        ("tune[prompts_attributes][1][text]", "sks woman at the beach"),
        ("tune[prompts_attributes][1][super_resolution]", "false"),
    ])
    status, tune = await fake.call("POST", "/tunes", data=form)
    assert status == 201
    assert (tune["title"], tune["name"], tune["token"], tune["model_type"]) == (
        "job-1", "woman", "sks", None)
    assert (tune["face_crop"], tune["steps"]) == (True, 500)
    assert tune["characteristics"] == {"eye_color": "green"}
    assert len(tune["orig_images"]) == 4
    first = tune["orig_images"][0]
    assert "." not in first.rsplit("/", 1)[1]
    assert await fake.call("GET", first.removeprefix(fake.url)) == (200, images[0].data)
    texts = [(p["text"], p["num_images"], p["tune_id"]) for p in tune["prompts"]]
    assert texts == [("sks woman, portrait", 3, tune["id"]),
                     ("sks woman at the beach", 1, tune["id"])]
    assert tune["prompts"][1]["super_resolution"] is False


async def test_characteristics_json_string_like_the_cli(fake: FakeAstria) -> None:
    form = _form([("tune[title]", "ref"), ("tune[name]", "dress"),
                  ("tune[model_type]", "faceid"), ("tune[base_tune_id]", "3618064"),
                  ("tune[characteristics]", '{"short_description": "red silk"}'),
                  ("tune[image_urls][]", URL)])
    status, tune = await fake.call("POST", "/tunes", data=form)
    assert status == 201
    assert tune["characteristics"] == {"short_description": "red silk"}
    assert (tune["branch"], tune["model_type"], tune["token"]) == ("gemini-2", "faceid", None)
    assert tune["trained_at"] is not None


async def test_json_tune_with_nested_prompts_on_flux(fake: FakeAstria) -> None:
    body = {"tune": {
        "title": "flux-job", "name": "man", "branch": "flux1", "preset": "flux-lora-portrait",
        "image_urls": [URL], "callback": "http://127.0.0.1:9/cb",
        "prompts_attributes": [{"text": "ohwx man in a suit", "lora_scale": 0.8}],
    }}
    status, tune = await fake.call("POST", "/tunes", json=body)
    assert status == 201
    assert (tune["model_type"], tune["token"], tune["callback"]) == (
        "lora", "ohwx", "http://127.0.0.1:9/cb")
    [prompt] = tune["prompts"]
    # LoRA prompts run on the base model with a <lora:id:w> token (§5.1).
    assert prompt["tune_id"] == 1504944
    assert prompt["text"] == f"<lora:{tune['id']}:0.8> ohwx man in a suit"
    assert prompt["tunes"][0]["id"] == tune["id"]


async def test_prompt_input_image_file(fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")
    data = sample_images()[0].read_bytes()
    form = _form([("prompt[text]", "sks man"), ("prompt[num_images]", "2"),
                  ("prompt[denoising_strength]", "0.5"), ("prompt[film_grain]", "true"),
                  ("prompt[input_image]", UploadedFile("in.png", "image/png", data))])
    status, prompt = await fake.call("POST", f"/tunes/{tune['id']}/prompts", data=form)
    assert status == 201
    assert (prompt["num_images"], prompt["denoising_strength"], prompt["film_grain"]) == (
        2, 0.5, True)
    assert prompt["input_image"].startswith(f"{fake.url}/mp/")
    assert (await fake.call("GET", prompt["input_image"].removeprefix(fake.url)))[1] == data


async def test_bad_bodies_are_400(fake: FakeAstria) -> None:
    status, body = await fake.call("POST", "/tunes", json={"title": "no root"})
    assert (status, body) == (400, {"error": "param is missing or the value is empty: tune"})
    status, _ = await fake.call("POST", "/tunes", data=b"{nope",
                                headers={"Content-Type": "application/json"})
    assert status == 400


def _tune(**overrides: Any) -> dict[str, Any]:
    tune: dict[str, Any] = {"title": "t", "name": "man", "image_urls": [URL]}
    tune.update(overrides)
    return {"tune": {k: v for k, v in tune.items() if v is not None}}


@pytest.mark.parametrize(("body", "needle"), [
    (_tune(title=None), "Title"),
    (_tune(name=""), "Name"),
    (_tune(image_urls=None), "images"),
    (_tune(image_urls=["https://example.com/ü.jpg"]), "could not download"),
    (_tune(branch="sd99"), "branch"),
    (_tune(model_type="full"), "model_type"),
    (_tune(preset="flux-lora-ultra"), "preset"),
    (_tune(base_tune_id=42), "Base tune"),
    (_tune(prompts_attributes=[{"num_images": 2}]), "Text"),
])
async def test_tune_validation(fake: FakeAstria, body: dict[str, Any], needle: str) -> None:
    status, answer = await fake.call("POST", "/tunes", json=body)
    assert status == 422
    assert needle in answer["error"]
    assert fake.tunes == {}  # nothing half-created


@pytest.mark.parametrize(("prompt", "needle"), [
    ({"num_images": 2}, "Text"),
    ({"text": "x", "num_images": 9}, "num_images"),
    ({"text": "x", "num_images": 0}, "num_images"),
    ({"text": "x", "num_images": "many"}, "num_images"),
    ({"text": "x", "steps": 51}, "steps"),
    ({"text": "x", "cfg_scale": 15.5}, "cfg_scale"),
    ({"text": "x", "scheduler": "ddim"}, "scheduler"),
    ({"text": "x", "aspect_ratio": "auto"}, "aspect_ratio"),
    ({"text": "x", "resolution": "8K"}, "resolution"),
    ({"text": "x", "w": 500}, "multiple of 8"),
    ({"text": "x", "super_resolution": "maybe"}, "super_resolution"),
    ({"text": "<lora:999:1> x"}, "999"),
])
async def test_prompt_validation(fake: FakeAstria, prompt: dict[str, Any], needle: str) -> None:
    tune = fake.add_tune(branch="sd15")
    status, answer = await fake.call("POST", f"/tunes/{tune['id']}/prompts",
                                     json={"prompt": prompt})
    assert status == 422
    assert needle in answer["error"]
    assert fake.prompts == {}


async def test_flux_rules_answer_rails_field_maps(fake: FakeAstria) -> None:
    body = {"prompt": {"text": "x", "negative_prompt": "blurry", "cfg_scale": 6}}
    assert await fake.call("POST", "/tunes/1504944/prompts", json=body) == (422, {
        "negative_prompt": ["is not supported on Flux"], "cfg_scale": ["must be less than 5"]})
    ok = {"prompt": {"text": "x", "cfg_scale": 3.5}}
    assert (await fake.call("POST", "/tunes/1504944/prompts", json=ok))[0] == 201


async def test_prompt_on_a_lora_tune_is_refused(fake: FakeAstria) -> None:
    lora = fake.add_tune(branch="flux1")
    assert await fake.call("POST", f"/tunes/{lora['id']}/prompts",
                           json={"prompt": {"text": "ohwx man"}}) == (
        422, {"error": "model_type=lora is not supported. Use a checkpoint instead"})


async def test_seedream_takes_at_most_four_images(fake: FakeAstria) -> None:
    body = {"prompt": {"text": "x", "num_images": 5}}
    status, answer = await fake.call("POST", "/tunes/3691308/prompts", json=body)
    assert (status, "between 1 and 4" in answer["error"]) == (422, True)


async def test_direct_upload_signed_ids_like_the_cli(fake: FakeAstria) -> None:
    data = sample_images()[1].read_bytes()
    blob = {"blob": {"filename": "p.png", "byte_size": len(data), "checksum": "x",
                     "content_type": "image/png"}}
    _, upload = await fake.call("POST", "/api/direct_uploads", json=blob)
    target = upload["direct_upload"]["url"].removeprefix(fake.url)
    assert (await fake.call("PUT", target, data=data,
                            headers=upload["direct_upload"]["headers"]))[0] == 204
    form = _form([("tune[title]", "cli"), ("tune[name]", "man"),
                  ("tune[images][]", upload["signed_id"])])
    status, tune = await fake.call("POST", "/tunes", data=form)
    assert status == 201
    assert (await fake.call("GET", tune["orig_images"][0].removeprefix(fake.url)))[1] == data
