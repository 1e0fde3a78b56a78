"""FakeAstria: auth, workspaces, pagination, deletes, gallery and the request log."""

from __future__ import annotations

import re

import aiohttp

from astria_async.testing import FakeAstria

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
IMAGE_URL = "https://example.com/a.jpg"


async def test_binds_loopback_with_generated_key(fake: FakeAstria) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
    assert fake.api_key.startswith("sd_fake_")


async def test_missing_or_wrong_key_is_401(fake: FakeAstria) -> None:
    async with aiohttp.ClientSession(base_url=fake.url) as anonymous, anonymous.get(
        "/tunes"
    ) as response:
        assert response.status == 401
        assert "error" in await response.json()
    status, body = await fake.call("GET", "/users", api_key="sd_wrong")
    assert status == 401
    assert body["error"]


async def test_public_urls_need_no_key(fake: FakeAstria) -> None:
    async with aiohttp.ClientSession(base_url=fake.url) as anonymous, anonymous.get(
        "/cli/models"
    ) as response:
        body = await response.json()
    assert response.status == 200
    assert body["models"]["gemini"]["tune_id"] == 3618064


async def test_user_balance_follows_spending(fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")
    _, before = await fake.call("GET", "/users")
    await fake.call("POST", f"/tunes/{tune['id']}/prompts",
                    json={"prompt": {"text": "x", "num_images": 2}})
    _, after = await fake.call("GET", "/users.json")
    assert before["usd_balance_mc"] - after["usd_balance_mc"] == 6_000
    assert after["id"] == 1001


async def test_workspace_scoping(fake: FakeAstria) -> None:
    fake.add_workspace("Clients", workspace_id=42)
    body = {"tune": {"title": "in-42", "name": "man", "image_urls": [IMAGE_URL]}}
    status, created = await fake.call("POST", "/tunes", json=body, workspace="42")
    assert status == 201
    fake.add_tune(title="mine")
    _, in_42 = await fake.call("GET", "/tunes", workspace="42")
    _, personal = await fake.call("GET", "/tunes")
    _, everywhere = await fake.call("GET", "/tunes", workspace="all")
    assert [t["title"] for t in in_42] == ["in-42"]
    assert [t["title"] for t in personal] == ["mine"]
    assert [t["title"] for t in everywhere] == ["mine", "in-42"]
    # GET by id is not workspace-scoped: ids are account-wide.
    assert (await fake.call("GET", f"/tunes/{created['id']}"))[0] == 200
    assert fake.requests[0].workspace == "42"
    _, workspaces = await fake.call("GET", "/workspaces.json")
    assert [w["id"] for w in workspaces] == [42]


async def test_personal_literal_means_no_workspace(fake: FakeAstria) -> None:
    fake.add_tune(title="mine")
    _, tunes = await fake.call("GET", "/tunes", workspace="personal")
    assert len(tunes) == 1


async def test_unknown_workspace_is_404_and_not_created(fake: FakeAstria) -> None:
    body = {"tune": {"title": "t", "name": "man", "image_urls": [IMAGE_URL]}}
    assert await fake.call("POST", "/tunes", json=body, workspace="42") == (
        404, {"error": "Workspace not found"})
    assert (await fake.call("GET", "/prompts", workspace="42"))[0] == 404
    assert fake.tunes == {}
    assert (await fake.call("GET", "/workspaces.json"))[1] == []
    # Account routes ignore the header, as the official CLI never sends it to them.
    assert (await fake.call("GET", "/users", workspace="42"))[0] == 200
    tune = fake.add_tune(branch="sd15")
    prompt = {"prompt": {"text": "x", "workspace_id": 42}}
    assert (await fake.call("POST", f"/tunes/{tune['id']}/prompts", json=prompt))[0] == 404


async def test_prompt_workspace_id_param_moves_it(fake: FakeAstria) -> None:
    fake.add_workspace(workspace_id=7)
    tune = fake.add_tune(branch="sd15")
    body = {"prompt": {"text": "x", "workspace_id": "7"}}
    await fake.call("POST", f"/tunes/{tune['id']}/prompts", json=body)
    assert (await fake.call("GET", "/prompts"))[1] == []
    assert len((await fake.call("GET", "/prompts", workspace="7"))[1]) == 1


async def test_lists_newest_first_with_limit_clamp_and_before_id(fake: FakeAstria) -> None:
    ids = [fake.add_tune(title=f"t{i}")["id"] for i in range(130)]
    _, default = await fake.call("GET", "/tunes")
    assert [t["id"] for t in default] == ids[::-1][:20]
    _, clamped = await fake.call("GET", "/tunes", params={"limit": "500"})
    assert len(clamped) == 120
    _, after = await fake.call("GET", "/tunes", params={"before_id": str(ids[10]), "limit": "5"})
    assert [t["id"] for t in after] == ids[5:10][::-1]
    _, offset = await fake.call("GET", "/tunes", params={"offset": "3", "limit": "2"})
    assert [t["id"] for t in offset] == ids[::-1][3:5]
    assert (await fake.call("GET", "/tunes", params={"before_id": str(ids[0])}))[1] == []


async def test_offset_limits(fake: FakeAstria) -> None:
    assert (await fake.call("GET", "/tunes", params={"offset": "200"}))[0] == 200
    status, body = await fake.call("GET", "/tunes", params={"offset": "201"})
    assert status == 400
    assert "before_id" in body["error"]
    assert (await fake.call("GET", "/prompts", params={"offset": "10000"}))[0] == 200
    assert (await fake.call("GET", "/prompts", params={"offset": "10001"}))[0] == 400


async def test_tune_list_filters(fake: FakeAstria) -> None:
    fake.add_tune(title="Alice portrait", name="woman")
    fake.add_tune(title="Bob", name="man", branch="sd15")
    fake.add_tune(title="Rex", name="dog", branch="sd15")
    _, by_title = await fake.call("GET", "/tunes", params={"title": "alice"})
    assert [t["title"] for t in by_title] == ["Alice portrait"]
    _, by_names = await fake.call("GET", "/tunes?name[]=man&name[]=dog")
    assert [t["title"] for t in by_names] == ["Rex", "Bob"]
    _, flux = await fake.call("GET", "/tunes", params={"branch": "flux1"})
    assert [t["model_type"] for t in flux] == ["lora"]


async def test_prompt_list_filters(fake: FakeAstria) -> None:
    sd, other = fake.add_tune(branch="sd15"), fake.add_tune(branch="sd15")
    fake.add_prompt(sd["id"], "a red car")
    fake.add_prompt(sd["id"], "a blue car", base_pack_id=260)
    fake.add_prompt(other["id"], "a red boat")
    _, red = await fake.call("GET", "/prompts", params={"text": "RED"})
    assert sorted(p["text"] for p in red) == ["a red boat", "a red car"]
    _, on_sd = await fake.call("GET", "/prompts", params={"tune_id": str(sd["id"])})
    assert [p["text"] for p in on_sd] == ["a blue car", "a red car"]
    _, nested = await fake.call("GET", f"/tunes/{sd['id']}/prompts.json")
    assert nested == on_sd
    _, from_pack = await fake.call("GET", "/prompts", params={"base_pack_id": "260"})
    assert [p["text"] for p in from_pack] == ["a blue car"]
    _, mine = await fake.call("GET", "/prompts", params={"user_id": "1001"})
    assert len(mine) == 3


async def test_a_tunes_prompt_list_pages_by_before_id_without_deleted_prompts(
        fake: FakeAstria) -> None:
    sd, other = fake.add_tune(branch="sd15"), fake.add_tune(branch="sd15")
    ids = []
    for i in range(6):  # the two tunes' prompts interleaved
        ids.append(fake.add_prompt(sd["id"], f"mine {i}", seed=i)["id"])
        fake.add_prompt(other["id"], f"other {i}", seed=i)
    assert (await fake.call("DELETE", f"/prompts/{ids[3]}"))[0] == 200
    _, below = await fake.call("GET", f"/tunes/{sd['id']}/prompts",
                               params={"before_id": str(ids[5]), "limit": "3"})
    assert [p["id"] for p in below] == [ids[4], ids[2], ids[1]]
    _, query = await fake.call("GET", "/prompts",
                               params={"tune_id": str(sd["id"]), "before_id": str(ids[2])})
    assert [p["id"] for p in query] == [ids[1], ids[0]]
    assert (await fake.call("DELETE", f"/tunes/{other['id']}"))[0] == 200
    _, left = await fake.call("GET", "/prompts")
    assert [p["id"] for p in left] == [ids[5], ids[4], ids[2], ids[1], ids[0]]


async def test_objects_have_documented_shapes(fake: FakeAstria) -> None:
    _, tune = await fake.call("GET", f"/tunes/{fake.add_tune()['id']}.json")
    assert tune["id"] >= 1_000_001
    assert tune["url"] == f"{fake.url}/tunes/{tune['id']}.json"
    for key in ("created_at", "updated_at", "trained_at", "expires_at", "eta"):
        assert ISO_MS_Z.match(tune[key]), key
    assert "status" not in tune  # §11: there is no status field
    sd15 = fake.add_tune(branch="sd15")
    body = {"prompt": {"text": "sks man", "cfg_scale": 3, "seed": 5}}
    status, prompt = await fake.call("POST", f"/tunes/{sd15['id']}/prompts", json=body)
    assert status == 201
    assert prompt["id"] >= 20_000_001
    assert (prompt["cfg_scale"], prompt["seed"], prompt["negative_prompt"]) == ("3.0", 5, "")
    assert (prompt["images"], prompt["user_error"], prompt["trained_at"]) == ([], None, None)
    assert prompt["url"] == f"{fake.url}/tunes/{sd15['id']}/prompts/{prompt['id']}.json"
    assert prompt["cost_mc"] == 3_000
    assert prompt["tunes"] == []


async def test_gallery_tunes(fake: FakeAstria) -> None:
    _, gallery = await fake.call("GET", "/gallery/tunes", params={"limit": "200"})
    branches = {t["id"]: t["branch"] for t in gallery}
    assert branches[1504944] == "flux1"
    assert branches[690204] == "sd15"
    assert branches[666678] == "sdxl1"
    assert branches[3159068] == "partner-1"
    assert all(t["trained_at"] and t["expires_at"] is None for t in gallery)
    _, partners = await fake.call("GET", "/gallery/tunes", params={"branch": "partner-1"})
    assert 3159068 in [t["id"] for t in partners]
    assert (await fake.call("GET", "/tunes/1504944"))[0] == 200
    assert (await fake.call("DELETE", "/tunes/1504944"))[0] == 404
    assert (await fake.call("GET", "/tunes"))[1] == []


async def test_delete_answers(fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")
    first, second, third = (fake.add_prompt(tune["id"]) for _ in range(3))
    assert await fake.call("DELETE", f"/prompts/{first['id']}") == (
        200, {"message": "Prompt successfully deleted"})
    assert (await fake.call("DELETE", f"/tunes/1504944/prompts/{second['id']}"))[0] == 404
    assert await fake.call("DELETE", f"/tunes/{tune['id']}/prompts/{second['id']}.json") == (
        204, b"")
    assert await fake.call("DELETE", f"/tunes/{tune['id']}") == (200, b"")
    assert (await fake.call("GET", f"/tunes/{tune['id']}"))[0] == 404
    # Deleting a tune deletes the prompts posted to it (§3.6).
    assert (await fake.call("GET", f"/prompts/{third['id']}"))[0] == 404


async def test_nested_get_needs_the_posted_tune(fake: FakeAstria) -> None:
    lora = fake.add_tune(branch="flux1")
    body = {"prompt": {"text": f"<lora:{lora['id']}:1> ohwx man"}}
    _, prompt = await fake.call("POST", "/tunes/1504944/prompts", json=body)
    assert prompt["tune_id"] == 1504944
    assert (await fake.call("GET", f"/tunes/1504944/prompts/{prompt['id']}"))[0] == 200
    assert (await fake.call("GET", f"/tunes/{lora['id']}/prompts/{prompt['id']}"))[0] == 404
    assert (await fake.call("GET", f"/prompts/{prompt['id']}.json"))[0] == 200


async def test_patch_tune_and_prompt(fake: FakeAstria) -> None:
    tune = fake.add_tune(branch="sd15")
    form = aiohttp.FormData({"tune[title]": "renamed", "tune[characteristics]": '{"eye": "blue"}'})
    status, patched = await fake.call("PATCH", f"/tunes/{tune['id']}", data=form)
    assert status == 200
    assert (patched["title"], patched["characteristics"]) == ("renamed", {"eye": "blue"})
    prompt = fake.add_prompt(tune["id"])
    body = {"prompt": {"pack_id": 260}}
    status, moved = await fake.call("PATCH", f"/tunes/{tune['id']}/prompts/{prompt['id']}",
                                    json=body)
    assert (status, moved["pack_id"]) == (200, 260)


async def test_unknown_routes_are_404(fake: FakeAstria) -> None:
    assert (await fake.call("GET", "/nope"))[0] == 404
    assert (await fake.call("GET", "/tunes/abc"))[0] == 404
    assert (await fake.call("GET", "/prompts/99"))[0] == 404


async def test_request_log(fake: FakeAstria) -> None:
    await fake.call("GET", "/prompts/123.json")
    await fake.call("GET", "/prompts/456", params={"x": "1"})
    await fake.call("GET", "/tunes")
    assert fake.count("GET", "/prompts/*") == 2
    assert fake.count("*", "/tunes") == 1
    assert fake.count("POST", "/prompts/*") == 0
    record = fake.requests[1]
    assert (record.method, record.path, record.query, record.status, record.fault) == (
        "GET", "/prompts/456", {"x": "1"}, 404, None)
    fake.clear_log()
    assert fake.requests == []
    assert fake.count("GET", "*") == 0
