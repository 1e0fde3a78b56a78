"""examples/aiohttp_backend.py and examples/django_async_view.py as real servers, over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _examples import serve

from astria_async.callbacks import SECRET_PARAM
from astria_async.testing import FakeAstria

SECRET = "server-example-secret-0123456789abcdef"


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 0.3, "fast_train_seconds": 0.1, "prompt_seconds": 0.5}


def _env(fake: FakeAstria) -> dict[str, str]:
    return {"ASTRIA_API_KEY": fake.api_key, "ASTRIA_BASE_URL": fake.url,
            "ASTRIA_CALLBACK_SECRET": SECRET}


async def test_aiohttp_backend(astria_fake: FakeAstria, tmp_path: Path) -> None:
    tune = astria_fake.add_tune(branch="sd15")
    async with serve("aiohttp_backend.py", tmp_path, _env(astria_fake)) as app, \
            aiohttp.ClientSession(app.url) as http:
        async def order(i: int) -> dict[str, Any]:
            async with http.post("/orders", json={"tune_id": tune["id"], "text": f"man {i}",
                                                  "num_images": 1}) as resp:
                assert resp.status == 200, await resp.text()
                return dict(await resp.json())

        orders = await asyncio.gather(*(order(i) for i in range(5)))
        assert all(len(o["images"]) == 1 for o in orders)
        await astria_fake.flush_callbacks()
        assert [cb.status for cb in astria_fake.callbacks] == [200] * 5
        async with http.post("/astria/callback", params={SECRET_PARAM: "no"}, json={}) as resp:
            assert resp.status == 403
        async with http.post("/orders", json={"tune_id": tune["id"], "text": "x",
                                              "num_images": 99}) as resp:
            assert resp.status == 422 and "num_images" in (await resp.json())["error"]
    logs = app.logs()
    assert "/astria/callback?" in logs and SECRET not in logs
    assert "Traceback" not in logs and "Unclosed" not in logs


async def test_django_async_views_one_client_per_loop(astria_fake: FakeAstria,
                                                      tmp_path: Path) -> None:
    tune = astria_fake.add_tune(branch="sd15")
    async with serve("django_async_view.py", tmp_path, _env(astria_fake)) as app, \
            aiohttp.ClientSession(app.url) as http:
        ids = []
        for i in range(4):  # each request runs in a new event loop: each needs its own client
            async with http.post("/orders", json={"tune_id": tune["id"], "text": f"man {i}",
                                                  "num_images": 1}) as resp:
                assert resp.status == 202, await resp.text()
                ids.append((await resp.json())["prompt_id"])
        for _ in range(100):  # the prompts finish 0.5 s after their creation
            await asyncio.sleep(0.05)
            await astria_fake.flush_callbacks()
            if len(astria_fake.callbacks) == 4:
                break
        assert [cb.status for cb in astria_fake.callbacks] == [200] * 4
        astria_fake.clear_log()
        for pid in ids:
            async with http.get(f"/orders/{pid}") as resp:
                answer = await resp.json()
                assert resp.status == 200 and answer["done"] and len(answer["images"]) == 1
        assert astria_fake.count("GET", "*") == 0  # answered from what the callbacks stored
        async with http.post("/astria/callback", params={SECRET_PARAM: "no"}, json={}) as resp:
            assert resp.status == 403
        async with http.post("/orders", json={"tune_id": tune["id"], "text": "x",
                                              "num_images": 99}) as resp:
            assert resp.status == 422
    logs = app.logs()
    assert "/astria/callback?" in logs and SECRET not in logs
    assert "Traceback" not in logs and "Unclosed" not in logs
