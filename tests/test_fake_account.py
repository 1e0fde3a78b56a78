"""FakeAstria: account, workspaces, catalogue, pack creation, inspection and the gallery feed."""

from __future__ import annotations

import aiohttp

from astria_async.testing import FakeAstria, sample_images


async def test_users_me_is_the_account_with_its_balance_in_mc(fake: FakeAstria) -> None:
    status, me = await fake.call("GET", "/users")
    assert status == 200
    assert set(me) >= {"id", "name", "email", "usd_balance_mc", "auto_extend_tunes",
                       "top_off_amount", "purchased_plugin_at"}
    assert isinstance(me["usd_balance_mc"], int)


async def test_workspaces_create_list_get_and_landing_page(fake: FakeAstria) -> None:
    assert (await fake.call("GET", "/workspaces.json"))[1] == []
    status, created = await fake.call("POST", "/workspaces.json",
                                      json={"workspace": {"title": "Clients"}})
    assert status == 201
    assert isinstance(created["id"], int) and created["title"] == "Clients"
    assert created["landing_page_html"] is None and created["brief"] is None
    assert [w["id"] for w in (await fake.call("GET", "/workspaces.json"))[1]] == [created["id"]]
    path = f"/workspaces/{created['id']}.json"
    change = {"workspace": {"landing_page_html": "<h1>Hi</h1>", "brief": "warm light"}}
    status, patched = await fake.call("PATCH", path, json=change)
    assert (status, patched["landing_page_html"], patched["brief"]) == (
        200, "<h1>Hi</h1>", "warm light")
    assert (await fake.call("GET", f"/workspaces/{created['id']}"))[1] == patched
    # The new workspace is usable as a scope at once.
    assert (await fake.call("GET", "/tunes", workspace=str(created["id"])))[0] == 200


async def test_workspace_validation(fake: FakeAstria) -> None:
    assert (await fake.call("POST", "/workspaces.json", json={"workspace": {"title": " "}}))[0] \
        == 422
    assert (await fake.call("POST", "/workspaces.json", json={"title": "x"}))[0] == 400
    assert (await fake.call("GET", "/workspaces/99.json"))[0] == 404
    fake.add_workspace(workspace_id=5)
    bad = {"workspace": {"landing_page_html": ["not", "text"]}}
    assert (await fake.call("PATCH", "/workspaces/5.json", json=bad))[0] == 422
    assert (await fake.call("GET", "/workspaces.json", api_key="sd_wrong"))[0] == 401


async def test_cli_models_catalogue_lists_image_and_video_models(fake: FakeAstria) -> None:
    async with aiohttp.ClientSession() as anonymous, anonymous.get(
        f"{fake.url}/cli/models"
    ) as response:
        body = await response.json()
    models = body["models"]
    assert {name: models[name]["tune_id"] for name in ("gemini", "seedream", "gpt-image-2")} == {
        "gemini": 3618064, "seedream": 3691308, "gpt-image-2": 4665564}
    assert body["default"] == "gemini" and body["cache_ttl"] > 0
    assert body["default_video_model"] in body["video_models"]
    assert any(m["supports_image_references"] for m in body["video_models"].values())
    assert "cli" not in body  # never invites the official CLI to replace itself
    for meta in models.values():  # every named model is a real gallery tune of the fake
        assert (await fake.call("GET", f"/tunes/{meta['tune_id']}"))[0] == 200


async def test_gallery_tunes_take_the_cli_limit(fake: FakeAstria) -> None:
    status, tunes = await fake.call("GET", "/gallery/tunes",
                                    params={"branch": "partner-1", "limit": "200"})
    assert status == 200 and len(tunes) >= 5
    assert all(t["branch"] == "partner-1" for t in tunes)
    assert len((await fake.call("GET", "/gallery/tunes", params={"limit": "2"}))[1]) == 2


async def test_create_pack_then_assign_a_prompt_to_it(fake: FakeAstria) -> None:
    body = {"pack": {"title": "Spring Lookbook", "base_tune_id": 1504944,
                     "model_type": "lora", "subtitle": "pastel"}}
    status, pack = await fake.call("POST", "/packs", json=body)
    assert status == 201
    assert (pack["slug"], pack["base_tune_id"], pack["subtitle"]) == (
        "spring-lookbook", 1504944, "pastel")
    assert pack["public_at"] is None and pack["template_prompts"] == []
    assert pack["id"] in [p["id"] for p in (await fake.call("GET", "/packs"))[1]]
    assert pack["id"] not in [p["id"] for p in (await fake.call("GET", "/gallery/packs"))[1]]
    lora = fake.add_tune(branch="flux1")
    prompt = fake.add_prompt(lora["id"], "ohwx man in pastel", num_images=2)
    status, moved = await fake.call("PATCH", f"/prompts/{prompt['id']}",
                                    json={"prompt": {"pack_id": pack["id"]}})
    assert (status, moved["pack_id"]) == (200, pack["id"])
    _, detail = await fake.call("GET", "/p/spring-lookbook.json")
    assert [t["id"] for t in detail["template_prompts"]] == [prompt["id"]]
    assert detail["costs"]["man"]["num_images"] == 2


async def test_create_pack_validation(fake: FakeAstria) -> None:
    assert (await fake.call("POST", "/packs", json={"pack": {"base_tune_id": 1504944}}))[0] == 422
    mine = fake.add_tune()
    body = {"pack": {"title": "x", "base_tune_id": mine["id"]}}
    assert (await fake.call("POST", "/packs", json=body))[0] == 422
    body = {"pack": {"title": "x", "base_tune_id": 1504944, "model_type": "dreambooth"}}
    assert (await fake.call("POST", "/packs", json=body))[0] == 422


async def test_patch_prompt_pack_id_checks_the_pack_and_the_prompts_tune(
    fake: FakeAstria,
) -> None:
    plain = fake.add_prompt(1504944, "a lighthouse at dusk")  # no fine-tuned model in it
    status, body = await fake.call("PATCH", f"/prompts/{plain['id']}",
                                   json={"prompt": {"pack_id": 260}})
    assert (status, body) == (422, {"error": "Prompt is not using a fine-tuned model"})
    lora = fake.add_tune(branch="flux1")
    tuned = fake.add_prompt(lora["id"], "ohwx man")
    for key in ("pack_id", "base_pack_id"):
        status, body = await fake.call("PATCH", f"/prompts/{tuned['id']}",
                                       json={"prompt": {key: 999}})
        assert status == 422 and "pack" in body["error"]
    status, body = await fake.call("PATCH", f"/prompts/{tuned['id']}",
                                   json={"prompt": {"workspace_id": 31}})
    assert status == 404
    # base_pack_id records provenance only: any prompt may carry it.
    status, body = await fake.call("PATCH", f"/prompts/{plain['id']}",
                                   json={"prompt": {"base_pack_id": 260}})
    assert (status, body["base_pack_id"], body["pack_id"]) == (200, 260, None)
    assert fake.prompt(plain["id"])["pack_id"] is None


async def test_images_inspect(fake: FakeAstria) -> None:
    picture = sample_images()[0]
    form = aiohttp.FormData()
    form.add_field("name", "man")
    form.add_field("file", picture.read_bytes(), filename=picture.name,
                   content_type="image/png")
    status, found = await fake.call("POST", "/images/inspect", data=form)
    assert status == 200
    assert found["name"] == "man" and found["eye_color"] and found["hair_color"]
    assert isinstance(found["blurry"], bool) and isinstance(found["selfie"], bool)
    again = aiohttp.FormData({"name": "man", "file_url": "https://example.com/a.jpg"})
    assert (await fake.call("POST", "/images/inspect", data=again))[0] == 200
    garment = aiohttp.FormData({"name": "dress", "file_url": "https://example.com/d.jpg"})
    assert (await fake.call("POST", "/images/inspect", data=garment))[1]["hair_color"] == ""
    assert (await fake.call("POST", "/images/inspect", data=aiohttp.FormData(
        {"name": "man"})))[0] == 422
    assert (await fake.call("POST", "/images/inspect", data=aiohttp.FormData(
        {"file_url": "https://example.com/a.jpg"})))[0] == 422


async def test_gallery_feed_shows_finished_community_prompts(fake: FakeAstria) -> None:
    shared = fake.add_prompt(1504944, "a red fox", community=True)
    fake.add_prompt(1504944, "private")
    fake.add_prompt(1504944, "FAIL shared", community=True)
    async with aiohttp.ClientSession() as anonymous, anonymous.get(
        f"{fake.url}/gallery.json"
    ) as response:
        assert (response.status, await response.json()) == (200, [])  # nothing finished yet
    await fake.advance(10)
    _, feed = await fake.call("GET", "/gallery.json", params={"limit": "5"})
    assert [p["id"] for p in feed] == [shared["id"]] and feed[0]["images"]
    assert (await fake.call("GET", "/gallery.json", params={"offset": "1"}))[1] == []
    before = {"before_id": str(shared["id"])}
    assert (await fake.call("GET", "/gallery.json", params=before))[1] == []
