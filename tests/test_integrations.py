"""Framework lifecycles: ASGI lifespan + FastAPI dependency, aiohttp AppKey, one client per loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import uvicorn
from _examples import free_port
from _fresh import loaded
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fastapi import FastAPI

from astria_async import AstriaClient, errors
from astria_async.callbacks import SECRET_PARAM
from astria_async.integrations.aiohttp import CLIENT_KEY, setup
from astria_async.integrations.asgi import STATE_KEY, AstriaLifespan, client_of
from astria_async.integrations.fastapi import AstriaDep
from astria_async.integrations.perloop import PerLoopClient

SECRET = "integration-secret-value"
OPTIONS: dict[str, Any] = {"api_key": "k", "base_url": "http://127.0.0.1:9",
                           "callback_secret": SECRET}
PROMPT = {"id": 7, "tune_id": 1, "text": "x", "images": ["https://mp.astria.ai/a"]}


def test_core_never_imports_integrations_or_frameworks() -> None:
    code = "import astria_async, astria_async.callbacks, astria_async._client"
    assert loaded(code, ("astria_async.integrations", "aiohttp.web", "fastapi", "starlette",
                         "django")) == []


# --- ASGI lifespan and the FastAPI dependency ---------------------------------------------


async def test_lifespan_opens_publishes_and_closes_the_client() -> None:
    astria = AstriaLifespan(**OPTIONS)
    with pytest.raises(RuntimeError, match="only while the app runs"):
        _ = astria.client
    async with astria(None) as state:
        client = state[STATE_KEY]
        assert astria.client is client and not client.closed
        assert client_of({"state": state}) is client
        assert "open=True" in repr(astria)
    assert client.closed
    with pytest.raises(RuntimeError, match="lifespan"):
        client_of({"state": {}})
    with pytest.raises(TypeError):
        AstriaLifespan(lambda: AstriaClient(**OPTIONS), api_key="k")


async def test_lifespan_callbacks_follow_the_open_client() -> None:
    astria = AstriaLifespan(lambda: AstriaClient(**OPTIONS))
    app = astria.callbacks()
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": json.dumps({"prompt": PROMPT}).encode()}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [],
             "query_string": f"{SECRET_PARAM}={SECRET}".encode()}
    for _ in range(2):  # a restarted app gets a new client; the receiver follows it
        async with astria(None) as state:
            await app(scope, receive, send)
            assert sent[-2]["status"] == 200
            assert state[STATE_KEY].prompts  # fed: the wait below needs no request
            assert (await state[STATE_KEY].prompts.wait_images(7)).images


@asynccontextmanager
async def uvicorn_serving(app: Any) -> AsyncIterator[str]:
    """`app` under a real uvicorn in this loop, on a free loopback port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None,
                            lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):  # started within 5 s, or the requests below fail
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


async def test_fastapi_dependency_and_callback_routes() -> None:
    astria = AstriaLifespan(**OPTIONS)
    app = FastAPI(lifespan=astria)
    astria.add_callback_routes(app)

    @app.get("/whoami")
    async def whoami(client: AstriaDep) -> dict[str, str]:
        return {"base_url": client.base_url}

    bare = FastAPI()

    @bare.get("/whoami")
    async def nobody(client: AstriaDep) -> dict[str, str]:
        return {}  # pragma: no cover (the dependency refuses first)

    async with uvicorn_serving(app) as url, aiohttp.ClientSession(url) as http:
        async with http.get("/whoami") as resp:
            assert await resp.json() == {"base_url": "http://127.0.0.1:9"}
        for path, query in (("/astria/callback", {SECRET_PARAM: SECRET}),
                            (f"/astria/callback/{SECRET}", {})):
            async with http.post(path, params=query, json={"prompt": PROMPT},
                                 allow_redirects=False) as resp:
                assert resp.status == 200 and (await resp.json())["id"] == 7
        async with http.post("/astria/callback?astria_secret=x", json={}) as resp:
            assert resp.status == 403
        async with http.get("/astria/callback") as resp:
            assert resp.status == 405
        client = astria.client
    assert client.closed
    with pytest.raises(RuntimeError, match="lifespan"):
        client_of(type("Request", (), {"scope": {"state": {}}})())
    async with uvicorn_serving(bare) as url, aiohttp.ClientSession(url) as http, \
            http.get("/whoami") as resp:
        assert resp.status == 500


# --- aiohttp -------------------------------------------------------------------------------


async def test_aiohttp_setup_opens_closes_and_routes() -> None:
    app = web.Application()
    setup(app, **OPTIONS)

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"base_url": request.app[CLIENT_KEY].base_url})

    app.router.add_get("/whoami", whoami)
    async with TestClient(TestServer(app)) as http:
        assert (await (await http.get("/whoami")).json())["base_url"] == "http://127.0.0.1:9"
        resp = await http.post(f"/astria/callback/{SECRET}", json={"prompt": PROMPT})
        assert resp.status == 200
        resp = await http.post("/astria/callback", json={"prompt": PROMPT})
        assert resp.status == 403
        client = app[CLIENT_KEY]
    assert client.closed
    bare = web.Application()
    setup(bare, factory=lambda: AstriaClient(**OPTIONS), callback_path=None)
    assert not [r for r in bare.router.routes()]
    with pytest.raises(TypeError):
        setup(web.Application(), factory=lambda: AstriaClient(**OPTIONS), api_key="k")


# --- one client per loop -------------------------------------------------------------------


def test_per_loop_client_per_loop_and_closed_with_it() -> None:
    clients = PerLoopClient(**OPTIONS)

    async def use() -> AstriaClient:
        client = clients.get()
        assert clients.get() is client
        client._transport.session()  # what a first request does: open a session in this loop
        return client

    first, second = asyncio.run(use()), asyncio.run(use())
    assert first is not second and first.closed and second.closed
    assert "loops=0" in repr(clients)  # nothing keeps a dead loop alive
    with pytest.raises(RuntimeError):
        clients.get()
    with pytest.raises(TypeError):
        PerLoopClient(lambda: AstriaClient(**OPTIONS), api_key="k")


async def test_per_loop_client_reopens_after_close_and_closes_on_demand() -> None:
    clients = PerLoopClient(lambda: AstriaClient(**OPTIONS))
    first = clients.get()
    await first.aclose()
    second = clients.get()
    assert second is not first and not second.closed
    await clients.aclose()
    assert second.closed
    await clients.aclose()  # nothing open: nothing to do
    with pytest.raises(errors.ClientClosedError):
        await second.tunes.get(1)
