"""The client's lifecycle in an ASGI app with lifespan (FastAPI, Starlette, Litestar, Quart).

`AstriaLifespan` opens one `AstriaClient` when the app starts and closes it when it stops
(its waits end with `ClientClosedError`, its session is closed). The client is published in
the lifespan state (`request.state.astria_client` in Starlette/FastAPI) and on the lifespan
object itself, and `lifespan.callbacks()` is an ASGI app to mount before the client exists.
No framework is imported here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from .._client import AstriaClient
from ..callbacks import DEFAULT_PATH, CallbackReceiver, OnObject
from ..callbacks._asgi import Receive, Scope, Send
from ..callbacks._receiver import DEFAULT_MAX_BYTES

STATE_KEY = "astria_client"


class AstriaLifespan:
    """Opens the client with the app and closes it with the app.

    Pass it as the app's lifespan (`FastAPI(lifespan=astria)`, `Starlette(lifespan=astria)`),
    or enter `astria(app)` inside your own lifespan and merge its state.

    Args:
        factory: a callable returning a new client (default: `AstriaClient(**options)`).
        options: `AstriaClient` keyword arguments. Give a stable `callback_secret` when
            callbacks may reach another worker or outlive a restart.
    """

    def __init__(self, factory: Callable[[], AstriaClient] | None = None,
                 **options: Any) -> None:
        if factory is not None and options:
            raise TypeError("give either factory= or AstriaClient keyword arguments, not both")
        self._factory = factory or (lambda: AstriaClient(**options))
        self._client: AstriaClient | None = None

    def __repr__(self) -> str:
        return f"AstriaLifespan(open={self._client is not None})"

    @property
    def client(self) -> AstriaClient:
        """The open client.

        Raises:
            RuntimeError: the app has not started (or has stopped).
        """
        if self._client is None:
            raise RuntimeError("the Astria client is open only while the app runs "
                               "(is AstriaLifespan the app's lifespan?)")
        return self._client

    @asynccontextmanager
    async def __call__(self, app: Any = None) -> AsyncIterator[dict[str, Any]]:
        """The lifespan: yields the state `{"astria_client": client}`."""
        async with self._factory() as client:
            self._client = client
            try:
                yield {STATE_KEY: client}
            finally:
                self._client = None

    def add_callback_routes(self, app: Any, path: str = DEFAULT_PATH, *,
                            max_bytes: int = DEFAULT_MAX_BYTES,
                            on_object: OnObject | None = None) -> None:
        """Serve callbacks at `POST path` and `POST path/<secret>` in a Starlette/FastAPI app.

        Routes, not `app.mount()`: a mount answers the exact path with a 307 redirect to
        `path/`, which a callback sender may not follow with its body.
        """
        add_routes(app, self.callbacks(max_bytes=max_bytes, on_object=on_object), path)

    def callbacks(self, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  on_object: OnObject | None = None) -> LifespanCallbacks:
        """An ASGI callback receiver for the client this lifespan opens (see `CallbackApp`)."""
        return LifespanCallbacks(self, max_bytes=max_bytes, on_object=on_object)


class LifespanCallbacks:
    """`CallbackReceiver(lifespan.client).asgi()`, built when the first callback arrives."""

    def __init__(self, lifespan: AstriaLifespan, *, max_bytes: int,
                 on_object: OnObject | None) -> None:
        self._lifespan = lifespan
        self._options: dict[str, Any] = {"max_bytes": max_bytes, "on_object": on_object}
        self._receiver: CallbackReceiver | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point: the receiver of the client open now."""
        client = self._lifespan.client
        receiver = self._receiver
        if receiver is None or receiver.client is not client:
            receiver = self._receiver = CallbackReceiver(client, **self._options)
        await receiver.asgi()(scope, receive, send)


def add_routes(app: Any, asgi_app: Any, path: str = DEFAULT_PATH) -> None:
    """Route `POST path` and `POST path/<secret>` of a Starlette/FastAPI `app` to `asgi_app`.

    `asgi_app` is a receiver's `asgi()` (or `AstriaLifespan.callbacks()`); Starlette hands an
    ASGI app given as a route endpoint the request as it arrives, body unread.
    """
    base = path.rstrip("/") or "/"
    app.add_route(base, asgi_app, methods=["POST"])
    app.add_route(f"{base.rstrip('/')}/{{secret}}", asgi_app, methods=["POST"])


def client_of(request: Any) -> AstriaClient:
    """The client `AstriaLifespan` opened, from a Starlette/FastAPI request (or its scope).

    Raises:
        RuntimeError: the app's lifespan is not `AstriaLifespan` (no client in its state).
    """
    state = request.get("state", {}) if isinstance(request, dict) else request.scope.get(
        "state", {})
    client = state.get(STATE_KEY)
    if not isinstance(client, AstriaClient):
        raise RuntimeError("no Astria client in the lifespan state: pass "
                           "lifespan=AstriaLifespan(...) to the app")
    return client
