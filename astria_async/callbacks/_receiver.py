"""The framework-agnostic receiver: secret, size, parse, feed the waits, answer.

`handle()` is the whole decision, as a `CallbackResponse` any framework can send back; the
ASGI app (`asgi()`) and the aiohttp route (`add_route()`, `app()`) add what only a server can
do: refuse before the body is read, and stop reading an oversize body while it streams.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Union

from .._config import CALLBACK_MAX_BYTES
from ..errors import CallbackError
from ..models import Binding, Prompt, Tune
from ._answer import CallbackResponse as CallbackResponse  # public via the package
from ._asgi import CallbackApp
from ._parse import Callback, parse_callback
from ._url import DEFAULT_PATH, SECRET_PARAM, secret_matches

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("astria_async")

DEFAULT_MAX_BYTES = CALLBACK_MAX_BYTES
OnObject = Callable[[Callback, Mapping[str, str]], Union[Awaitable[None], None]]  # noqa: UP007


class Receiving(Binding, Protocol):
    """What a `CallbackReceiver` uses of its client: the secret, and the waits to feed."""

    @property
    def callback_secret(self) -> str: ...

    def feed(self, obj: Tune | Prompt | list[Prompt]) -> None: ...


def _describe(obj: Callback) -> dict[str, Any]:
    if isinstance(obj, list):
        return {"kind": "prompts", "ids": [p.id for p in obj]}
    return {"kind": "tune" if isinstance(obj, Tune) else "prompt", "id": obj.id}


class CallbackReceiver:
    """Receives Astria callbacks: checks the secret, parses, and feeds the client's waits.

    Mount `receiver.asgi()` in any ASGI framework (FastAPI, Starlette, Quart, Litestar) or
    server; on aiohttp use `receiver.app()` or `receiver.add_route(app, path)`; anywhere else,
    `await receiver.handle(query, body, path=path)` and send back the `CallbackResponse`.

    The secret is accepted in the `astria_secret` query parameter, or as the last path
    segment for URLs made with `callback_url(..., secret_in_path=True)`.

    Args:
        client: the client whose waits the callbacks end (its secret is the default).
        secret: the secret expected (default: the client's `callback_secret`).
        max_bytes: larger bodies are refused with 413.
        on_object: called with each parsed object and the URL's context (the query string
            without the secret), after the waits were fed; may be async.
    """

    def __init__(self, client: Receiving, *, secret: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, on_object: OnObject | None = None) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes!r}")
        self._client = client
        self._secret = (secret if secret is not None else client.callback_secret).encode()
        if not self._secret:
            raise ValueError("the callback secret must not be empty")
        self.max_bytes = max_bytes
        self.on_object = on_object

    def __repr__(self) -> str:
        return f"CallbackReceiver(max_bytes={self.max_bytes})"  # never the secret

    @property
    def client(self) -> Receiving:
        """The client whose waits this receiver feeds."""
        return self._client

    def authorised(self, query: Mapping[str, str], path: str = "") -> bool:
        """Whether the request carries the right secret (constant-time comparison)."""
        return secret_matches(self._secret, query, path)

    def refused(self) -> CallbackResponse:
        """The 403 answer to a missing or wrong secret (logged without the URL)."""
        logger.warning("callback refused: missing or wrong secret")
        return CallbackResponse.of(403, {"error": "missing or wrong secret"})

    def too_large(self) -> CallbackResponse:
        """The 413 answer to a body over `max_bytes`."""
        logger.warning("callback refused: body larger than %d bytes", self.max_bytes)
        return CallbackResponse.of(413, {"error": f"body larger than {self.max_bytes} bytes"})

    async def handle(self, query: Mapping[str, str], body: bytes, *,
                     path: str = "") -> CallbackResponse:
        """Process one callback request whose body was read; returns what to answer.

        Args:
            query: the request's query parameters.
            body: the raw request body.
            path: the request path (only needed for secrets in the path).
        """
        if not self.authorised(query, path):
            return self.refused()
        if len(body) > self.max_bytes:
            return self.too_large()
        try:
            obj = parse_callback(body, self._client)
        except CallbackError as exc:
            logger.warning("callback refused: %s", exc)
            return CallbackResponse.of(400, {"error": str(exc)})
        self._client.feed(obj)
        described = _describe(obj)
        logger.info("callback received: %s %s", described["kind"],
                    described.get("id", described.get("ids")))
        if self.on_object is not None:
            context = {k: v for k, v in query.items() if k != SECRET_PARAM}
            result = self.on_object(obj, context)
            if inspect.isawaitable(result):
                await result
        return CallbackResponse.of(200, {"ok": True, **described})

    def asgi(self) -> CallbackApp:
        """This receiver as a plain ASGI application, to mount at any path (see `CallbackApp`)."""
        return CallbackApp(self)

    async def aiohttp_handler(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp view: refuses bad secrets before reading and oversize bodies early."""
        from ._aiohttp import serve  # aiohttp.web only when an aiohttp server is used

        return await serve(self, request)

    def add_route(self, app: web.Application, path: str = DEFAULT_PATH) -> None:
        """Serve callbacks at `POST path` (and `path/<secret>`) in an existing aiohttp app."""
        app.router.add_post(path, self.aiohttp_handler)
        app.router.add_post(f"{path.rstrip('/')}/{{secret}}", self.aiohttp_handler)

    def app(self, path: str = DEFAULT_PATH) -> web.Application:
        """A small aiohttp app serving callbacks at `POST path`."""
        from aiohttp import web

        app = web.Application()
        self.add_route(app, path)
        return app
