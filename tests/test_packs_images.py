"""packs.create, images.inspect, the public gallery and the newer tune/pack fields, against
FakeAstria (and a recorder for the exact wire shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_resources_wire import JPEG, Recorder, client, server

from astria_async import AstriaClient, InvalidParamsError, Pack, Tune
from astria_async.testing import FakeAstria, sample_images

__all__ = ["client", "server"]  # fixtures used below
IMAGE = "https://example.com/a.jpg"


@pytest.fixture
async def fake_client(fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(fake.api_key, base_url=fake.url) as c:
        yield c


async def test_pack_create_is_json_and_resolves_model_names(
        server: Recorder, client: AstriaClient) -> None:
    server.answer = {"id": 3, "title": "Looks"}
    pack = await client.packs.create(title="Looks", base_tune_id=1504944, model_type="lora",
                                     subtitle="Studio")
    assert server.seen[0].json == {"pack": {"title": "Looks", "base_tune_id": 1504944,
                                            "model_type": "lora", "subtitle": "Studio"}}
    assert pack.id == 3


async def test_pack_create_end_to_end(fake: FakeAstria, fake_client: AstriaClient) -> None:
    pack = await fake_client.packs.create(title="My looks", base_tune_id="gemini",
                                          model_type="faceid")
    assert pack.base_tune_id == 3618064 and pack.title == "My looks"
    assert (await fake_client.packs.get(pack.id)).id == pack.id


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"title": "", "base_tune_id": 1}, "title"),
    ({"title": "x", "base_tune_id": 0}, "base_tune_id"),
    ({"title": "x", "base_tune_id": 1, "model_type": "dora"}, "model_type"),
])
async def test_pack_create_checks_first(fake: FakeAstria, fake_client: AstriaClient,
                                        kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await fake_client.packs.create(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and fake.requests == []


async def test_inspect_a_file_and_a_url(fake: FakeAstria, fake_client: AstriaClient) -> None:
    path = sample_images()[0]
    seen = await fake_client.images.inspect(path, name="woman")
    assert seen.name == "woman" and seen.hair_color is not None
    assert seen.facial_hair is None and seen.raw["facial_hair"] == "NONE"
    assert "facial_hair" not in seen.characteristics()
    assert seen.characteristics()["eye_color"] == seen.eye_color
    assert isinstance(seen.usable, bool)
    by_url = await fake_client.images.inspect(file_url=IMAGE, name="man")
    assert by_url.name == "man"


async def test_inspect_multipart_shape(server: Recorder, client: AstriaClient,
                                       tmp_path: Path) -> None:
    server.answer = {"name": "man", "blurry": True, "age": ""}
    photo = tmp_path / "me.jpg"
    photo.write_bytes(JPEG)
    seen = await client.images.inspect(photo, name="man")
    form = server.seen[0].form
    assert form["name"] == ["man"] and form["file"][0][:2] == ("me.jpg", "image/jpeg")
    assert seen.age is None and seen.blurry is True and not seen.usable


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": "man"}, "file"), ({"name": "man", "file": JPEG, "file_url": IMAGE}, "file"),
    ({"name": " ", "file": JPEG}, "name"), ({"name": "man", "file_url": "ftp://x"}, "file_url"),
])
async def test_inspect_checks_first(fake: FakeAstria, fake_client: AstriaClient,
                                    kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await fake_client.images.inspect(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and fake.requests == []


async def test_public_gallery(fake: FakeAstria, fake_client: AstriaClient) -> None:
    tune = fake.add_tune(branch="fast")
    shared = await fake_client.prompts.create(tune["id"], text="ohwx man", community=True,
                                              num_images=1)
    await fake_client.prompts.create(tune["id"], text="private", num_images=1)
    await fake.advance(3600)
    feed = await fake_client.gallery.list(limit=10)
    assert [p.id for p in feed] == [shared.id]
    walked = [p.id async for p in fake_client.gallery.list()]
    assert walked == [shared.id]


async def test_gallery_tunes_take_the_cli_limit(fake: FakeAstria,
                                                fake_client: AstriaClient) -> None:
    public = await fake_client.tunes.list(gallery=True, limit=200)
    assert any(t.id == 1504944 for t in public)
    with pytest.raises(InvalidParamsError, match="1 to 120"):
        await fake_client.tunes.list(limit=200)


async def test_tune_pack_fields(server: Recorder, client: AstriaClient) -> None:
    server.answer = {"id": 4, "base_pack_id": 260, "prompts_callback": "https://a.example/cb"}
    tune = await client.tunes.create(title="t", name="man", image_urls=[IMAGE],
                                     base_pack_id=260, prompts_callback="https://a.example/cb")
    assert server.seen[0].json["tune"]["base_pack_id"] == 260
    assert server.seen[0].json["tune"]["prompts_callback"] == "https://a.example/cb"
    assert tune.base_pack_id == 260 and tune.prompts_callback == "https://a.example/cb"


def test_legacy_images_key_is_orig_images() -> None:
    tune = Tune.from_dict({"id": 1, "images": [IMAGE]})
    assert tune.orig_images == (IMAGE,) and "orig_images" not in tune.raw
    newer = Tune.from_dict({"id": 1, "orig_images": ["https://x.example/o"], "images": [IMAGE]})
    assert newer.orig_images == ("https://x.example/o",)


def test_pack_newer_fields() -> None:
    pack = Pack.from_dict({"id": 1, "logo": "https://x.example/l.png", "multiplier_api": "1.5",
                           "template_prompts": [{"id": 9, "cost_mc": 3000}]})
    assert pack.logo == "https://x.example/l.png" and pack.multiplier_api == 1.5
    assert pack.template_prompts[0]["id"] == 9
