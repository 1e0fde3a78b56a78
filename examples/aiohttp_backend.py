"""An aiohttp backend: the client opens and closes with the app; callbacks end the waits.

Run it against the offline fake (no key, no network):

    python -m astria_async.testing --port 8765 &          # prints its API key
    ASTRIA_BASE_URL=http://127.0.0.1:8765 ASTRIA_API_KEY=<key> python examples/aiohttp_backend.py

Environment: as `fastapi_backend.py` (HOST, PORT, PUBLIC_URL, ASTRIA_CALLBACK_SECRET, and the
client's ASTRIA_* variables). Endpoints: POST /orders (JSON `{"tune_id", "text",
"num_images"}`), GET /healthz; callbacks at POST /astria/callback.
"""

from __future__ import annotations

import logging
import os
import secrets

from aiohttp import web

from astria_async import errors
from astria_async.callbacks import SecretFilter
from astria_async.integrations.aiohttp import CLIENT_KEY, setup

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8080"))
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://{HOST}:{PORT}").rstrip("/")
CALLBACK_URL = f"{PUBLIC_URL}/astria/callback"

STATUS = {errors.InvalidParamsError: 422, errors.FairUseError: 429,
          errors.WaitTimeoutError: 504, errors.PromptFailedError: 422,
          errors.NotFoundError: 404}


async def order(request: web.Request) -> web.Response:
    client = request.app[CLIENT_KEY]
    body = await request.json()
    try:
        prompt = await client.prompts.create(
            int(body["tune_id"]), text=str(body["text"]), num_images=int(body.get("num_images", 4)),
            callback=client.callback_url(CALLBACK_URL, tune=body["tune_id"]))
        prompt = await prompt.wait_images(timeout=float(body.get("timeout", 600)))
    except errors.AstriaError as exc:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 502)
        return web.json_response({"error": str(exc)}, status=status)
    return web.json_response({"prompt_id": prompt.id, "images": list(prompt.images)})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app() -> web.Application:
    app = web.Application()
    # Opens the client on startup (app[CLIENT_KEY]), closes it on cleanup, and serves
    # callbacks at /astria/callback: 403 before the body, 413 while it streams.
    setup(app, callback_secret=os.environ.get("ASTRIA_CALLBACK_SECRET")
          or secrets.token_urlsafe(32))
    app.router.add_post("/orders", order)
    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    # aiohttp's access log writes the request line with its query string: mask the secret.
    logging.getLogger("aiohttp.access").addFilter(SecretFilter())
    web.run_app(make_app(), host=HOST, port=PORT, print=None)
