"""Request shapes on the wire: what a Rails server actually receives from each endpoint."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import BodyPartReader, web

from astria_async import AstriaClient, PromptParams

KEY = "sd_wire"


@attrs.define
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    content_type: str
    json: Any = None
    form: dict[str, list[Any]] = attrs.field(factory=dict)


@attrs.define
class Recorder:
    """A loopback server that records requests and answers with canned JSON."""

    url: str = ""
    seen: list[Seen] = attrs.field(factory=list)
    answer: Any = attrs.field(factory=lambda: {"id": 1})
    status: int = 200


@pytest.fixture
async def server() -> AsyncIterator[Recorder]:
    rec = Recorder()

    async def handle(request: web.Request) -> web.StreamResponse:
        seen = Seen(request.method, request.path, list(request.query.items()),
                    request.content_type)
        if request.content_type == "application/json":
            seen.json = await request.json()
        elif request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader) and part.name is not None
                value: Any
                if part.filename:
                    value = (part.filename, part.headers.get("Content-Type"),
                             bytes(await part.read()))
                else:
                    value = await part.text()
                seen.form.setdefault(part.name, []).append(value)
        rec.seen.append(seen)
        return web.json_response(rec.answer, status=rec.status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def client(server: Recorder) -> AsyncIterator[AstriaClient]:
    async with AstriaClient(KEY, base_url=server.url) as c:
        yield c


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64


async def test_tune_create_without_files_is_json(server: Recorder, client: AstriaClient) -> None:
    await client.tunes.create(
        title="job-7f3c", name="man", image_urls=["https://example.com/1.jpg"],
        branch="fast", callback="https://app.example.com/cb?tune=1", token="ohwx",
        face_crop=True, characteristics={"eye_color": "blue"},
        prompts=[PromptParams(text="ohwx man in a suit", num_images=2)])
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("POST", "/tunes")
    assert seen.json == {"tune": {
        "title": "job-7f3c", "name": "man", "image_urls": ["https://example.com/1.jpg"],
        "branch": "fast", "callback": "https://app.example.com/cb?tune=1", "token": "ohwx",
        "face_crop": True, "characteristics": {"eye_color": "blue"},
        "prompts_attributes": [{"text": "ohwx man in a suit", "num_images": 2}]}}


async def test_tune_create_with_files_is_rails_multipart(server: Recorder, client: AstriaClient,
                                                         tmp_path: Path) -> None:
    photo = tmp_path / "face1.jpg"
    photo.write_bytes(JPEG)
    await client.tunes.create(
        title="t1", name="woman", images=[photo, PNG, io.BytesIO(JPEG)],
        image_urls=["https://example.com/2.jpg"], face_crop=False,
        characteristics={"eye_color": "green"}, base_tune_id=1504944, model_type="lora",
        preset="flux-lora-portrait",
        prompts=[PromptParams(text="a", num_images=1, lora_scale=0.8),
                 PromptParams(text="b", super_resolution=True)])
    form = server.seen[0].form
    assert server.seen[0].content_type == "multipart/form-data"
    assert form["tune[title]"] == ["t1"]
    assert form["tune[name]"] == ["woman"]
    files = form["tune[images][]"]
    assert [f[2] for f in files] == [JPEG, PNG, JPEG]
    assert files[0][0] == "face1.jpg" and files[0][1] == "image/jpeg"
    assert files[1][1] == "image/png"
    assert form["tune[image_urls][]"] == ["https://example.com/2.jpg"]
    assert form["tune[face_crop]"] == ["false"]
    assert form["tune[characteristics][eye_color]"] == ["green"]
    assert form["tune[base_tune_id]"] == ["1504944"]
    assert form["tune[preset]"] == ["flux-lora-portrait"]
    assert form["tune[prompts_attributes][0][text]"] == ["a"]
    assert form["tune[prompts_attributes][0][lora_scale]"] == ["0.8"]
    assert form["tune[prompts_attributes][1][super_resolution]"] == ["true"]


async def test_user_file_object_is_not_closed(server: Recorder, client: AstriaClient) -> None:
    handle = io.BytesIO(JPEG)
    await client.tunes.create(title="t", name="man", images=[handle])
    assert not handle.closed


async def test_prompt_create_json(server: Recorder, client: AstriaClient) -> None:
    await client.prompts.create(
        1504944, text="<lora:123:1> ohwx man", num_images=4, cfg_scale=3.5, seed=42,
        aspect_ratio="16:9", super_resolution=True, inpaint_faces=True,
        callback="https://app.example.com/p", extra={"new_flag": "x"})
    seen = server.seen[0]
    assert seen.path == "/tunes/1504944/prompts"
    assert seen.json == {"prompt": {
        "text": "<lora:123:1> ohwx man", "num_images": 4, "cfg_scale": 3.5, "seed": 42,
        "aspect_ratio": "16:9", "super_resolution": True, "inpaint_faces": True,
        "callback": "https://app.example.com/p", "new_flag": "x"}}


async def test_prompt_create_with_input_image_is_multipart(server: Recorder,
                                                           client: AstriaClient) -> None:
    await client.prompts.create(690204, text="sks man", input_image=PNG,
                                controlnet="pose", denoising_strength=0.6)
    form = server.seen[0].form
    assert form["prompt[text]"] == ["sks man"]
    assert form["prompt[controlnet]"] == ["pose"]
    assert form["prompt[denoising_strength]"] == ["0.6"]
    assert form["prompt[input_image]"][0][2] == PNG


async def test_prompt_params_object_and_overrides(server: Recorder, client: AstriaClient) -> None:
    base = PromptParams(text="a", num_images=2, seed=1)
    await client.prompts.create(7, params=base, seed=9)
    assert server.seen[0].json == {"prompt": {"text": "a", "num_images": 2, "seed": 9}}


async def test_list_queries(server: Recorder, client: AstriaClient) -> None:
    server.answer = []
    await client.tunes.list(title="job", name=["man", "woman"], branch="flux1", limit=50)
    await client.prompts.list(tune_id=5, text="suit", liked=True, before_id=100)
    await client.prompts.list(pack_id=3, offset=40)
    await client.tunes.list(gallery=True, model_type="faceid")
    t, p, g, gal = server.seen
    assert t.path == "/tunes"
    assert t.query == [("title", "job"), ("name[]", "man"), ("name[]", "woman"),
                       ("branch", "flux1"), ("limit", "50")]
    assert p.path == "/tunes/5/prompts"
    assert p.query == [("text", "suit"), ("liked", "true"), ("before_id", "100")]
    assert (g.path, g.query) == ("/prompts", [("pack_id", "3"), ("offset", "40")])
    assert (gal.path, gal.query) == ("/gallery/tunes", [("model_type", "faceid")])


async def test_update_is_a_patch_of_the_tune(server: Recorder, client: AstriaClient) -> None:
    await client.tunes.update(12, title="renamed", auto_extend=True)
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("PATCH", "/tunes/12")
    assert seen.json == {"tune": {"title": "renamed", "auto_extend": True}}


async def test_get_routes(server: Recorder, client: AstriaClient) -> None:
    await client.prompts.get(3)
    await client.prompts.get(3, tune_id=1504944)
    await client.packs.get("corporate-headshots")
    assert [s.path for s in server.seen] == ["/prompts/3", "/tunes/1504944/prompts/3",
                                             "/p/corporate-headshots"]


async def test_pack_create_tune_shapes(server: Recorder, client: AstriaClient) -> None:
    server.answer = {"status": 201, "order": {"id": 77, "tune_ids": [5, 6]},
                     "prompt_ids": [10, 11]}
    run = await client.packs.create_tune(
        "multi-pack", title="order-1", name="man", tune_ids=[5, 6],
        prompt_attributes=PromptParams(num_images=2, callback="https://app.example.com/p"),
        prompts_callback="https://app.example.com/all")
    assert server.seen[0].path == "/p/multi-pack/tunes"
    assert server.seen[0].json == {"tune": {
        "title": "order-1", "name": "man", "tune_ids": [5, 6],
        "prompt_attributes": {"num_images": 2, "callback": "https://app.example.com/p"},
        "prompts_callback": "https://app.example.com/all"}}
    assert (run.kind, run.order_id, run.tune_ids, run.prompt_ids) == ("order", 77, (5, 6),
                                                                     (10, 11))
    server.answer = {"status": 201, "message": "Prompts created"}
    run = await client.packs.create_tune(5, title="o2", name="man", tune_ids=[5])
    assert (run.kind, run.message) == ("message", "Prompts created")
    server.answer = {"id": 900, "title": "o3", "prompts": [{"id": 1}, {"id": 2}]}
    run = await client.packs.create_tune(5, title="o3", name="man",
                                         image_urls=["https://example.com/a.jpg"])
    assert run.kind == "tune" and run.tune is not None
    assert [p.id for p in run.tune.prompts] == [1, 2]


async def test_paginator_walks_with_before_id(server: Recorder, client: AstriaClient) -> None:
    server.answer = [{"id": 9}, {"id": 8}]
    it = client.prompts.list(limit=10, offset=20).__aiter__()
    assert [(await it.__anext__()).id, (await it.__anext__()).id] == [9, 8]
    server.answer = []
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()
    # The offset starts the walk; then it pages by the last id seen (deep offsets answer 400).
    assert [dict(s.query) for s in server.seen] == [{"limit": "10", "offset": "20"},
                                                    {"limit": "10", "before_id": "8"}]


async def test_awaiting_a_list_is_one_page(server: Recorder, client: AstriaClient) -> None:
    server.answer = [{"id": 4, "title": "a"}]
    tunes = await client.tunes.list()
    assert [t.id for t in tunes] == [4]
    assert server.seen[0].query == []


async def test_pack_lists(server: Recorder, client: AstriaClient) -> None:
    server.answer = [{"id": 5, "slug": "corporate-headshots", "title": "Corporate"}]
    mine = await client.packs.list()
    public = [p async for p in client.packs.list(gallery=True, listed=True)]
    assert [p.slug for p in mine] == ["corporate-headshots"] and public[0].id == 5
    assert [(s.path, s.query) for s in server.seen] == [
        ("/packs", []), ("/gallery/packs", [("listed", "true")])]
