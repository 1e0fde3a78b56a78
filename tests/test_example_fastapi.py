"""examples/fastapi_backend.py under a real uvicorn, driven over HTTP, against FakeAstria."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _examples import serve

from astria_async.callbacks import SECRET_PARAM
from astria_async.testing import FakeAstria
from astria_async.testing._png import encode_png, gradient

SECRET = "example-secret-never-logged-0123456789"
FLOOR = 1.0  # the fake's prompt time: 20 orders at once should all finish at about this


@pytest.fixture
def astria_fake_options() -> dict[str, Any]:
    return {"train_seconds": 1.0, "fast_train_seconds": 0.3, "prompt_seconds": FLOOR}


async def _raw(url: str, request: bytes) -> bytes:
    """Send `request` (headers only) and read the answer without sending any body."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_fastapi_backend(astria_fake: FakeAstria, tmp_path: Path) -> None:
    env = {"ASTRIA_API_KEY": astria_fake.api_key, "ASTRIA_BASE_URL": astria_fake.url,
           "ASTRIA_CALLBACK_SECRET": SECRET, "ORDER_TIMEOUT": "30"}
    async with serve("fastapi_backend.py", tmp_path, env) as app, \
            aiohttp.ClientSession(app.url) as http:
        # Upload photos -> a tune; its callback ends the wait.
        form = aiohttp.FormData()
        photo = encode_png(8, 8, gradient(8, 8))  # a valid tiny PNG: uploads are checked
        for i in range(3):
            form.add_field("photos", io.BytesIO(photo), filename=f"p{i}.png",
                           content_type="image/png")
        form.add_field("name", "man")
        async with http.post("/tunes", data=form) as resp:
            assert resp.status == 200, await resp.text()
            tune_id = (await resp.json())["id"]
        assert len(astria_fake.tune(tune_id)["orig_images"]) == 3
        async with http.post(f"/tunes/{tune_id}/wait") as resp:
            assert (await resp.json())["trained"] is True

        # 20 concurrent orders finish together, at the fake's floor time, by callbacks.
        astria_fake.clear_log()

        async def order(i: int) -> dict[str, Any]:
            async with http.post("/orders", json={"tune_id": tune_id, "text": f"ohwx man {i}",
                                                  "num_images": 2}) as resp:
                assert resp.status == 200, await resp.text()
                return dict(await resp.json())

        started = time.monotonic()
        orders = await asyncio.gather(*(order(i) for i in range(20)))
        assert all(len(o["images"]) == 2 for o in orders)
        assert time.monotonic() - started >= FLOOR  # each answered once its images were done
        await astria_fake.flush_callbacks()
        delivered = [cb for cb in astria_fake.callbacks if "tune=" in cb.url]
        assert len(delivered) == 20 and {cb.status for cb in delivered} == {200}
        # Not one after another: all 20 prompts were created before the first one finished.
        # (Read from the fake's clock, not timed against a bound: a loaded CI cannot fail it
        # unless the orders really were serialised.)
        creates = [r.at for r in astria_fake.requests
                   if r.method == "POST" and r.route.endswith("/prompts")]
        assert len(creates) == 20 and max(creates) < min(cb.at for cb in delivered)
        assert astria_fake.count("GET", "/prompts*") + astria_fake.count(
            "GET", "/tunes/*/prompts*") == 0  # the callbacks ended the waits, not polls

        # A wrong secret announcing 50 MB gets its 403 before a byte of the body is sent.
        head = (f"POST /astria/callback?{SECRET_PARAM}=wrong HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n").encode()
        answer = await _raw(app.url, head)
        assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
        # The right secret announcing 50 MB: 413, also without the body.
        answer = await _raw(app.url, head.replace(b"=wrong", f"={SECRET}".encode()))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        async with http.post("/astria/callback", params={SECRET_PARAM: SECRET},
                             data=b"not json") as resp:
            assert resp.status == 400

    logs = app.logs()
    assert "POST /astria/callback?" in logs and f"{SECRET_PARAM}=***" in logs
    assert SECRET not in logs
    assert "Traceback" not in logs and "Unclosed" not in logs
