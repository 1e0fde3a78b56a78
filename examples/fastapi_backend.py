"""A FastAPI backend: upload photos -> tune -> callback (polling as the fallback) -> prompts.

Needs `pip install 'astria-async[fastapi]' uvicorn python-multipart`. Run it against the
offline fake (no key, no network):

    python -m astria_async.testing --port 8765 &          # prints its API key
    ASTRIA_BASE_URL=http://127.0.0.1:8765 ASTRIA_API_KEY=<key> python examples/fastapi_backend.py

Environment: ASTRIA_API_KEY / ASTRIA_BASE_URL (the client's usual variables), HOST and PORT
(default 127.0.0.1:8000), PUBLIC_URL (where Astria reaches this server; default
http://HOST:PORT), ASTRIA_CALLBACK_SECRET (keep it stable across restarts in production).

Endpoints: POST /tunes (multipart `photos`, form `name`), POST /tunes/{id}/wait,
POST /orders (JSON `{"tune_id", "text", "num_images"}`: waits for the images and returns
their URLs), GET /healthz. Callbacks arrive at POST /astria/callback.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, UploadFile
from pydantic import BaseModel, Field

from astria_async import errors
from astria_async.callbacks import SecretFilter
from astria_async.integrations.asgi import AstriaLifespan
from astria_async.integrations.fastapi import AstriaDep

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://{HOST}:{PORT}").rstrip("/")
CALLBACK_URL = f"{PUBLIC_URL}/astria/callback"
ORDER_TIMEOUT = float(os.environ.get("ORDER_TIMEOUT", "600"))

# uvicorn's access log prints every request line, query string (and so the secret) included.
logging.getLogger("uvicorn.access").addFilter(SecretFilter())

astria = AstriaLifespan(
    callback_secret=os.environ.get("ASTRIA_CALLBACK_SECRET") or secrets.token_urlsafe(32))
app = FastAPI(title="Astria backend example", lifespan=astria)
# The ASGI receiver at POST /astria/callback (and /astria/callback/<secret>): it refuses a wrong
# secret before reading the body, and an oversize body while it streams.
astria.add_callback_routes(app, "/astria/callback")


class Order(BaseModel):
    tune_id: int
    text: str = Field(min_length=1, max_length=2000)
    num_images: int = Field(default=4, ge=1, le=8)


def http_error(exc: errors.AstriaError) -> HTTPException:
    """Typed library errors as HTTP answers a frontend can act on."""
    if isinstance(exc, errors.InvalidParamsError | errors.ValidationError):
        return HTTPException(422, str(exc))
    if isinstance(exc, errors.FairUseError | errors.RateLimitError):
        return HTTPException(429, str(exc))
    if isinstance(exc, errors.WaitTimeoutError):
        return HTTPException(504, f"still running; try again later ({exc})")
    if isinstance(exc, errors.PromptFailedError):
        return HTTPException(422, f"the prompt failed: {exc.prompt.user_error}")
    if isinstance(exc, errors.NotFoundError):
        return HTTPException(404, str(exc))
    return HTTPException(502, f"Astria: {exc}")


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


@app.post("/tunes")
async def create_tune(client: AstriaDep, photos: list[UploadFile],
                      name: Annotated[str, Form()] = "man") -> dict[str, Any]:
    images = [await photo.read() for photo in photos]
    try:
        tune = await client.tunes.create(
            title=f"web-{secrets.token_hex(4)}", name=name, images=images, branch="fast",
            callback=client.callback_url(CALLBACK_URL, kind="tune"))
    except errors.AstriaError as exc:
        raise http_error(exc) from exc
    return {"id": tune.id, "trained": tune.is_trained}


@app.post("/tunes/{tune_id}/wait")
async def wait_tune(client: AstriaDep, tune_id: int) -> dict[str, Any]:
    try:
        tune = await client.tunes.wait_trained(tune_id, timeout=ORDER_TIMEOUT)
    except errors.AstriaError as exc:
        raise http_error(exc) from exc
    return {"id": tune.id, "trained": tune.is_trained}


@app.post("/orders")
async def order(client: AstriaDep, body: Order) -> dict[str, Any]:
    try:
        prompt = await client.prompts.create(
            body.tune_id, text=body.text, num_images=body.num_images,
            callback=client.callback_url(CALLBACK_URL, tune=body.tune_id))
        # Ends when the callback arrives; polling continues as the safety net.
        prompt = await prompt.wait_images(timeout=ORDER_TIMEOUT)
    except errors.AstriaError as exc:
        raise http_error(exc) from exc
    return {"prompt_id": prompt.id, "images": list(prompt.images)}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host=HOST, port=PORT)
