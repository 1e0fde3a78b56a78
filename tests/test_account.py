"""Account endpoints against FakeAstria: the user, workspaces, the model catalogue and
model names where a tune id goes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from astria_async import (
    APIResponseValidationError,
    AstriaClient,
    InvalidParamsError,
    NotFoundError,
)
from astria_async.resources._catalogue import Catalogue, parse_catalog
from astria_async.testing import FakeAstria

IMAGE = "https://example.com/a.jpg"


@pytest.fixture
async def client(fake: FakeAstria) -> AsyncIterator[AstriaClient]:
    # A workspace the fake knows, so that every request here carries X-Workspace-Id.
    _, team = await fake.call("POST", "/workspaces.json", json={"workspace": {"title": "Team"}})
    fake.clear_log()
    async with AstriaClient(fake.api_key, base_url=fake.url, workspace_id=team["id"]) as c:
        yield c


def _workspaces_sent(fake: FakeAstria, route: str) -> list[str | None]:
    return [r.workspace for r in fake.requests if r.route == route]


async def test_me_is_typed_and_sent_without_workspace(fake: FakeAstria,
                                                      client: AstriaClient) -> None:
    user = await client.users.me()
    assert user.id == 1001 and user.email == "fake@example.com"
    assert isinstance(user.usd_balance_mc, int)
    assert user.balance_usd == user.usd_balance_mc / 100_000
    assert _workspaces_sent(fake, "/users") == [None]
    await client.tunes.list()
    assert _workspaces_sent(fake, "/tunes") == [client.workspace_id]


async def test_workspaces_crud(fake: FakeAstria, client: AstriaClient) -> None:
    made = await client.workspaces.create(title="Client A")
    assert made.title == "Client A" and made.id > 0
    assert made.id in [w.id for w in await client.workspaces.list()]
    assert _workspaces_sent(fake, "/workspaces") == [None, None]
    changed = await client.workspaces.update(made, landing_page_html="<h1>Hi</h1>",
                                             brief="bold")
    assert changed.landing_page_html == "<h1>Hi</h1>" and changed.brief == "bold"
    again = await client.workspaces.get(made.id)
    assert again.landing_page_html == "<h1>Hi</h1>"


@pytest.mark.parametrize(("call", "field"), [
    (lambda c: c.workspaces.create(title=" "), "title"),
    (lambda c: c.workspaces.update(1), "workspace"),
    (lambda c: c.workspaces.update(1, brief=3), "brief"),
    (lambda c: c.workspaces.get(0), "workspace_id"),
])
async def test_workspace_input_is_checked(fake: FakeAstria, client: AstriaClient, call: object,
                                          field: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        await call(client)  # type: ignore[operator]
    assert info.value.field == field
    assert fake.requests == []


async def test_catalogue_is_read_once_per_client(fake: FakeAstria, client: AstriaClient) -> None:
    catalog = await client.models()
    assert catalog.tune_id("gemini") == 3618064
    assert catalog.tune_id("GPT-Image-2") == 4665564 and catalog.tune_id("nope") is None
    assert catalog.default == "gemini" and catalog.source == "api"
    assert catalog.models["gemini"].resolutions == ("1K", "2K", "4K")
    await client.models()
    assert fake.count("GET", "/cli/models") == 1
    await client.models(refresh=True)
    assert fake.count("GET", "/cli/models") == 2
    assert set(_workspaces_sent(fake, "/cli/models")) == {None}


async def test_model_names_where_a_tune_id_goes(fake: FakeAstria, client: AstriaClient) -> None:
    prompt = await client.prompts.create("gemini", text="a red fox", num_images=1)
    assert prompt.tune_id == 3618064
    ref = await client.tunes.create(title="ref", name="woman", image_urls=[IMAGE],
                                    model_type="faceid", base_tune_id="Seedream")
    assert ref.base_tune_id == 3691308
    assert fake.count("GET", "/cli/models") == 1
    with pytest.raises(InvalidParamsError, match="tune id"):
        await client.prompts.create("4665564", text="a cat", num_images=1)
    with pytest.raises(InvalidParamsError, match=r"unknown model 'midjourney'.*gemini"):
        await client.prompts.create("midjourney", text="x")
    with pytest.raises(InvalidParamsError) as info:
        await client.prompts.create("two words", text="x")
    assert info.value.field == "tune_id"


async def test_env_overrides_and_builtin_fallback(fake: FakeAstria) -> None:
    async with AstriaClient(fake.api_key, base_url=fake.url) as c:
        transport = c._transport
        env = Catalogue(transport, environ={"GEMINI_TUNE_ID": "3159068"})
        assert await env.resolve("tune_id", "gemini") == 3159068
        assert fake.count("GET", "/cli/models") == 0
        fake.fail("/cli/models", 404, count=None)
        offline = Catalogue(transport, environ={})
        assert await offline.resolve("tune_id", "seedream") == 3691308
        with pytest.raises(InvalidParamsError, match="could not be read"):
            await offline.resolve("tune_id", "flux-pro")
        catalog = await c.models(offline_ok=True)
        assert catalog.source == "builtin" and catalog.tune_id("gemini") == 3618064
        with pytest.raises(NotFoundError):
            await c.models()


def test_catalogue_answers_are_parsed_leniently() -> None:
    catalog = parse_catalog({"models": {"a": {"tune_id": "12"}, "b": {}, "c": "x"},
                             "video_models": {"kling": {"audio": True}, "bad": 1},
                             "cache_ttl": "60"})
    assert catalog.tune_id("a") == 12 and list(catalog.models) == ["a"]
    assert list(catalog.video_models) == ["kling"] and catalog.cache_ttl == 60.0
    with pytest.raises(APIResponseValidationError):
        parse_catalog([])
    with pytest.raises(APIResponseValidationError, match="'a'"):
        parse_catalog({"models": {"a": {"tune_id": "x"}}})


async def test_user_payloads_are_read_leniently(fake: FakeAstria) -> None:
    from astria_async._convert import structure_plain
    from astria_async.answers import User

    lenient = structure_plain({"id": 1, "usd_balance_mc": "lots", "name": "A"}, User, "user")
    assert lenient.usd_balance_mc is None and lenient.raw["usd_balance_mc"] == "lots"
    assert lenient.name == "A"
    with pytest.raises(APIResponseValidationError) as info:
        structure_plain({"id": "x"}, User, "user")
    assert info.value.field == "id"
    with pytest.raises(APIResponseValidationError):
        structure_plain({"name": "x"}, User, "user")
    with pytest.raises(APIResponseValidationError):
        structure_plain(["x"], User, "user")
