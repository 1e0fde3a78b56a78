"""The client's lifecycle in an aiohttp app: an `AppKey` and a `cleanup_ctx`.

    app = web.Application()
    setup(app, callback_secret=os.environ["ASTRIA_CALLBACK_SECRET"])

    async def order(request: web.Request) -> web.Response:
        client = request.app[CLIENT_KEY]

`setup()` opens the client when the app starts, closes it on cleanup, and serves callbacks at
`POST /astria/callback` (and `/astria/callback/<secret>`) unless `callback_path=None`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from .._client import AstriaClient
from ..callbacks import DEFAULT_PATH, CallbackReceiver, OnObject
from ..callbacks._receiver import DEFAULT_MAX_BYTES

CLIENT_KEY = web.AppKey("astria_client", AstriaClient)
RECEIVER_KEY = web.AppKey("astria_callback_receiver", CallbackReceiver)


def setup(app: web.Application, *, factory: Callable[[], AstriaClient] | None = None,
          callback_path: str | None = DEFAULT_PATH, max_bytes: int = DEFAULT_MAX_BYTES,
          on_object: OnObject | None = None, **options: Any) -> None:
    """Open a client with `app` (`app[CLIENT_KEY]`), close it on cleanup, serve callbacks.

    Args:
        app: the aiohttp application (before it starts).
        factory: a callable returning a new client (default: `AstriaClient(**options)`).
        callback_path: where to serve callbacks; `None` for no route.
        max_bytes: the `CallbackReceiver`'s body limit.
        on_object: the `CallbackReceiver`'s hook, called with each parsed object.
        options: `AstriaClient` keyword arguments.
    """
    if factory is not None and options:
        raise TypeError("give either factory= or AstriaClient keyword arguments, not both")
    make = factory or (lambda: AstriaClient(**options))

    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        async with make() as client:
            app[CLIENT_KEY] = client
            app[RECEIVER_KEY] = CallbackReceiver(client, max_bytes=max_bytes,
                                                 on_object=on_object)
            yield

    app.cleanup_ctx.append(client_ctx)
    if callback_path is not None:
        async def callback(request: web.Request) -> web.StreamResponse:
            return await request.app[RECEIVER_KEY].aiohttp_handler(request)

        app.router.add_post(callback_path, callback)
        app.router.add_post(f"{callback_path.rstrip('/')}/{{secret}}", callback)
