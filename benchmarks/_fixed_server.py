"""A server that is not the bottleneck: every `GET /tunes/:id` answers one fixed tune body.

Runs in its own process (its own core on a 2-core machine) and does no work per request
beyond aiohttp's own, so the client's cost is what a throughput ratio measures. The body is a
tune as FakeAstria renders it. Prints `{"url"}` once listening; serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web

TUNE = {
    "id": 1, "title": "bench", "name": "man", "is_api": True, "token": "ohwx",
    "branch": "flux1", "model_type": "lora", "base_tune_id": 1504944, "args": None,
    "steps": None, "face_crop": None, "training_face_correct": False, "ckpt_url": None,
    "ckpt_urls": [], "eta": "2026-01-01T00:10:00.000Z",
    "started_training_at": "2026-01-01T00:00:00.000Z",
    "trained_at": "2026-01-01T00:10:00.000Z", "expires_at": "2026-02-01T00:10:00.000Z",
    "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:10:00.000Z",
    "url": "https://api.astria.ai/tunes/1.json",
    "orig_images": [f"https://cdn.astria.ai/orig/{i}.jpg" for i in range(4)],
    "callback": None, "cost_mc": 150000, "characteristics": None, "auto_extend": False,
    "preset": None,
}


async def serve() -> None:
    """Listen on a free loopback port, announce it, stop when stdin closes."""
    body = json.dumps(TUNE).encode()

    async def tune(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/tunes/{id}", tune)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
