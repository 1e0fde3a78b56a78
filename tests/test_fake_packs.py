"""FakeAstria: packs — lists, details and the three POST /p/:pack_id/tunes answers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from astria_async.testing import CallbackRecorder, FakeAstria

URL = "https://example.com/a.jpg"


@pytest.fixture
def fake_options() -> dict[str, Any]:
    return {"train_seconds": 60, "prompt_seconds": 10}


async def test_pack_lists_and_detail(fake: FakeAstria) -> None:
    _, mine = await fake.call("GET", "/packs")
    _, public = await fake.call("GET", "/gallery/packs", params={"public": "true"})
    assert [p["slug"] for p in mine] == ["couple-portraits", "corporate-headshots"]
    assert public == mine
    for key in ("id", "base_tune_id", "user_id", "title", "token", "multiplier", "model_type",
                "public_at", "cost_mc_hash", "costs", "main_class_name"):
        assert key in mine[0]
    by_slug = (await fake.call("GET", "/p/corporate-headshots.json"))[1]
    by_id = (await fake.call("GET", "/p/260"))[1]
    assert by_slug == by_id
    assert set(by_id["prompts_per_class"]) == {"man", "woman"}
    assert len(by_id["template_prompts"]) == 3
    assert by_id["costs"]["man"]["num_images"] == 10
    assert (await fake.call("GET", "/p/nope"))[0] == 404


async def test_training_path_returns_the_tune_with_pack_prompts(fake: FakeAstria) -> None:
    async with CallbackRecorder() as receiver:
        form = aiohttp.FormData({
            "tune[title]": "headshots-1", "tune[name]": "woman", "tune[image_urls][]": URL,
            "tune[prompt_attributes][num_images]": "2",
            "tune[prompt_attributes][callback]": receiver.url("/each"),
            "tune[prompts_callback]": receiver.url("/all"),
        })
        status, tune = await fake.call("POST", "/p/corporate-headshots/tunes", data=form)
        assert status == 201
        assert (tune["base_tune_id"], tune["model_type"], tune["preset"]) == (
            1504944, "lora", "flux-lora-portrait")
        prompts = tune["prompts"]
        assert len(prompts) == 3
        assert all(p["num_images"] == 2 and p["base_pack_id"] == 260 for p in prompts)
        assert all(p["tune_id"] == 1504944 for p in prompts)
        assert prompts[0]["text"] == (
            f"<lora:{tune['id']}:1> ohwx woman in a navy suit, grey studio backdrop")
        assert [p["orig_prompt_id"] for p in prompts] == [9_000_101, 9_000_102, 9_000_103]
        assert await fake.advance(60) == []  # prompts wait for training
        fired = await fake.advance(10)
        assert [c.kind for c in fired] == ["prompt", "prompt", "prompt", "prompts"]
        batch = receiver.received[-1]
        assert receiver.paths[-1] == "/all"
        assert isinstance(batch, list) and len(batch) == 3
        assert all(len(p["images"]) == 2 for p in batch)
        assert await fake.advance(100) == []


async def test_tune_ids_on_a_normal_pack(fake: FakeAstria) -> None:
    a, b = fake.add_tune(title="a"), fake.add_tune(title="b", name="woman")
    body = {"tune": {"tune_ids": [a["id"], b["id"]], "prompt_ids": [9_000_103]}}
    assert await fake.call("POST", "/p/260/tunes", json=body) == (
        201, {"status": 201, "message": "Prompts created"})
    _, made = await fake.call("GET", "/prompts", params={"base_pack_id": "260"})
    assert sorted(p["text"] for p in made) == sorted([
        f"<lora:{a['id']}:1> ohwx man, black and white portrait",
        f"<lora:{b['id']}:1> ohwx woman, black and white portrait",
    ])


async def test_multi_pack_answers_an_order(fake: FakeAstria) -> None:
    refs = [fake.add_tune(title=n, name=n, model_type="faceid", base_tune_id=3159068)
            for n in ("man", "woman")]
    form = aiohttp.FormData([("tune[tune_ids][]", str(t["id"])) for t in refs])
    status, answer = await fake.call("POST", "/p/couple-portraits/tunes", data=form)
    assert status == 201
    assert answer["status"] == 201
    assert answer["order"]["tune_ids"] == [t["id"] for t in refs]
    assert len(answer["prompt_ids"]) == 2
    first = fake.prompt(answer["prompt_ids"][0])
    assert first["tune_id"] == 3159068
    assert first["order_id"] == answer["order"]["id"]
    assert first["text"] == (f"<faceid:{refs[0]['id']}:1> man and <faceid:{refs[1]['id']}:1> "
                             "woman dancing at a gala")
    await fake.advance(10)  # references are trained at once
    assert len(fake.prompt(answer["prompt_ids"][0])["images"]) == 4
    _, by_order = await fake.call("GET", "/prompts",
                                  params={"order_id": str(answer["order"]["id"])})
    assert len(by_order) == 2


@pytest.mark.parametrize(("path", "body", "needle"), [
    ("/p/couple-portraits/tunes", {"title": "x", "name": "man", "image_urls": [URL]},
     "tune_ids"),
    ("/p/260/tunes", {"title": "x", "name": "cat", "image_urls": [URL]}, "Name"),
    ("/p/260/tunes", {"title": "x", "name": "man"}, "Images"),
    ("/p/260/tunes", {"tune_ids": [1504944]}, "tune_ids"),
    ("/p/260/tunes", {"tune_ids": [1], "prompt_ids": [5]}, "prompt_ids"),
    ("/p/260/tunes", {"title": "x", "name": "man", "image_urls": [URL],
                      "prompt_attributes": {"num_images": 20}}, "num_images"),
])
async def test_pack_validation(fake: FakeAstria, path: str, body: dict[str, Any],
                               needle: str) -> None:
    status, answer = await fake.call("POST", path, json={"tune": body})
    assert status == 422
    assert needle in answer["error"]
    assert fake.tunes == {} and fake.prompts == {}
