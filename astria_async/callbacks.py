"""Callbacks (webhooks): URLs with a secret, a lenient parser, and a receiver that feeds waits.

Astria POSTs the finished object as JSON to the callback URL, unsigned and never retried
(API notes §12). So the URL carries its own secret in the query string, the receiver checks
it in constant time, and polling stays on as the safety net for callbacks that never come.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .errors import APIResponseValidationError, CallbackError, InvalidParamsError
from .models import Binding, Prompt, Tune

logger = logging.getLogger("astria_async")

SECRET_PARAM = "astria_secret"
DEFAULT_MAX_BYTES = 1024 * 1024  # a prompt is a few KB; a pack's array of prompts stays far below
DEFAULT_PATH = "/astria/callback"

Callback = Union[Tune, Prompt, list[Prompt]]  # noqa: UP007 (a runtime alias on Python 3.10)
OnObject = Callable[[Callback, Mapping[str, str]], Union[Awaitable[None], None]]  # noqa: UP007

_PROMPT_KEYS = frozenset({"images", "tune_id", "text", "user_error", "negative_prompt",
                          "num_images", "cfg_scale", "seed"})
_TUNE_KEYS = frozenset({"title", "name", "orig_images", "model_type", "branch", "eta", "token",
                        "ckpt_url", "ckpt_urls", "base_tune_id", "expires_at", "steps"})
_TUNE_URL = re.compile(r"/tunes/\d+(?:\.json)?$")


class Receiving(Binding, Protocol):
    """What a `CallbackReceiver` uses of its client: the secret, and the waits to feed."""

    @property
    def callback_secret(self) -> str: ...

    def feed(self, obj: Tune | Prompt | list[Prompt]) -> None: ...


def callback_url(base: str, secret: str, **context: str | int) -> str:
    """`base` with `context` and the secret added to its query string.

    Astria does not template callback URLs, so anything the receiver needs to know (your
    order or user id) goes into the query string (API notes §12).
    """
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParamsError("base", "a callback URL must be absolute http(s), since "
                                 f"Astria calls it from outside, got {base!r}")
    if SECRET_PARAM in context:
        raise InvalidParamsError(SECRET_PARAM, "is reserved for the callback secret")
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != SECRET_PARAM]
    pairs += [(k, str(v)) for k, v in context.items()]
    pairs.append((SECRET_PARAM, secret))
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _kind(data: Mapping[str, Any]) -> type[Tune] | type[Prompt]:
    url = data.get("url")
    if isinstance(url, str):
        if "/prompts/" in url:
            return Prompt
        if _TUNE_URL.search(url):
            return Tune
    if _PROMPT_KEYS & data.keys():
        return Prompt
    if _TUNE_KEYS & data.keys():
        return Tune
    raise CallbackError("the callback object is neither a tune nor a prompt "
                        f"(keys: {sorted(data)[:12]})")


def _prompt(item: Any, client: Binding | None) -> Prompt:
    if not isinstance(item, Mapping):
        raise CallbackError(f"expected prompt objects in the array, got {type(item).__name__}")
    if isinstance(item.get("prompt"), Mapping):
        item = item["prompt"]
    return Prompt.from_dict(item, client)


def parse_callback(body: bytes | str | Mapping[str, Any] | list[Any],
                   client: Binding | None = None) -> Tune | Prompt | list[Prompt]:
    """An Astria callback body as typed objects.

    Accepts the wrapped form real callbacks use (`{"tune": {...}}`, `{"prompt": {...}}`), a
    flat object, and the array a pack's `prompts_callback` sends (also `{"prompts": [...]}`),
    as bytes, str or parsed JSON. With `client`, the objects are bound to it (so that
    `prompt.download()` works).

    Raises:
        CallbackError: the body is not JSON or not an Astria tune/prompt.
    """
    data: Any = body
    if isinstance(body, (bytes, bytearray, str)):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CallbackError(f"the callback body is not JSON: {exc}") from None
    try:
        if isinstance(data, list):
            return [_prompt(item, client) for item in data]
        if not isinstance(data, Mapping):
            raise CallbackError(f"expected a JSON object or array, got {type(data).__name__}")
        if "id" not in data:
            if isinstance(data.get("tune"), Mapping):
                return Tune.from_dict(data["tune"], client)
            if isinstance(data.get("prompt"), Mapping):
                return Prompt.from_dict(data["prompt"], client)
            if isinstance(data.get("prompts"), list):
                return [_prompt(item, client) for item in data["prompts"]]
            raise CallbackError("the callback object has no 'id' and no 'tune'/'prompt' key")
        return _kind(data).from_dict(data, client)
    except APIResponseValidationError as exc:
        raise CallbackError(f"not a valid Astria callback: {exc}") from exc


def _describe(obj: Callback) -> dict[str, Any]:
    if isinstance(obj, list):
        return {"kind": "prompts", "ids": [p.id for p in obj]}
    return {"kind": "tune" if isinstance(obj, Tune) else "prompt", "id": obj.id}


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp access log without query strings, so the callback secret never reaches logs.

    aiohttp's default access log writes the full request line, secret included: pass
    `access_log_class=RedactingAccessLogger` to `web.run_app` or `web.AppRunner`.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """One line: client address, method, path (no query), status, seconds."""
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path,
                         response.status, time)


class CallbackReceiver:
    """Receives Astria callbacks: checks the secret, parses, and feeds the client's waits.

    Mount it on aiohttp with `receiver.app()` or `receiver.add_route(app, path)`; with any
    other framework, call `await receiver.handle(query, body)` and send back the status and
    JSON it returns.

    Args:
        client: the client whose waits the callbacks end (its secret is the default).
        secret: the secret expected in the `astria_secret` query parameter.
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

    def authorised(self, query: Mapping[str, str]) -> bool:
        """Whether the query string carries the right secret (constant-time comparison)."""
        given = query.get(SECRET_PARAM)
        return given is not None and hmac.compare_digest(given.encode(), self._secret)

    async def handle(self, query: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Process one callback request; returns the HTTP status and a JSON-able answer."""
        if not self.authorised(query):
            logger.warning("callback refused: missing or wrong secret")
            return 403, {"error": "missing or wrong secret"}
        if len(body) > self.max_bytes:
            return 413, {"error": f"body larger than {self.max_bytes} bytes"}
        try:
            obj = parse_callback(body, self._client)
        except CallbackError as exc:
            logger.warning("callback refused: %s", exc)
            return 400, {"error": str(exc)}
        self._client.feed(obj)
        described = _describe(obj)
        logger.info("callback received: %s %s", described["kind"],
                    described.get("id", described.get("ids")))
        if self.on_object is not None:
            context = {k: v for k, v in query.items() if k != SECRET_PARAM}
            result = self.on_object(obj, context)
            if inspect.isawaitable(result):
                await result
        return 200, {"ok": True, **described}

    async def aiohttp_handler(self, request: web.Request) -> web.Response:
        """The aiohttp view: refuses bad secrets before reading and oversize bodies early."""
        query = dict(request.query)
        if not self.authorised(query):
            status, answer = await self.handle(query, b"")
            return web.json_response(answer, status=status)
        length = request.content_length
        if length is not None and length > self.max_bytes:
            return web.json_response({"error": f"body larger than {self.max_bytes} bytes"},
                                     status=413)
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > self.max_bytes:
                return web.json_response({"error": f"body larger than {self.max_bytes} bytes"},
                                         status=413)
        status, answer = await self.handle(query, bytes(body))
        return web.json_response(answer, status=status)

    def add_route(self, app: web.Application, path: str = DEFAULT_PATH) -> None:
        """Serve callbacks at `POST path` in an existing aiohttp app."""
        app.router.add_post(path, self.aiohttp_handler)

    def app(self, path: str = DEFAULT_PATH) -> web.Application:
        """A small aiohttp app serving callbacks at `POST path`."""
        app = web.Application()
        self.add_route(app, path)
        return app
