"""Routing, auth, body parsing, fault injection and the request log (aiohttp.web)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from . import _account, _gallery, _misc, _packs, _prompt_actions, _prompts, _tunes
from ._control import PREFIX as CONTROL_PREFIX
from ._control import Control
from ._faults import Fault, Faults, RequestRecord, normalize
from ._rails import ParamError, UploadedFile, parse_pairs
from ._store import Store
from ._wire import Ctx, HttpError, Reply

logger = logging.getLogger("astria_async.testing")

Handler = Callable[[Ctx], Reply]
_ID = r"(\d+)"
_KEY = r"([^/]+)"
_TOKEN = r"([A-Za-z0-9_-]+)"


@dataclass(frozen=True)
class Route:
    """One endpoint.

    ``auth=False`` for public image URLs, the feed and the CLI model catalogue;
    ``scoped=False`` for account routes, which ignore ``X-Workspace-Id`` (the
    official CLI never sends it to them, API notes §1.3).
    """

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True
    scoped: bool = True


def _route(method: str, path: str, handler: Handler, *, auth: bool = True,
           scoped: bool = True) -> Route:
    return Route(method, re.compile(f"^{path}$"), handler, auth, scoped)


ROUTES: tuple[Route, ...] = (
    _route("GET", "/tunes", _tunes.list_tunes),
    _route("POST", "/tunes", _tunes.post_tunes),
    _route("GET", f"/tunes/{_ID}", _tunes.get_tune),
    _route("PATCH", f"/tunes/{_ID}", _tunes.patch_tune),
    _route("PUT", f"/tunes/{_ID}", _tunes.patch_tune),
    _route("DELETE", f"/tunes/{_ID}", _tunes.delete_tune),
    _route("GET", f"/tunes/{_ID}/prompts", _prompts.list_tune_prompts),
    _route("POST", f"/tunes/{_ID}/prompts", _prompts.post_tune_prompts),
    _route("GET", f"/tunes/{_ID}/prompts/{_ID}", _prompts.get_prompt),
    _route("PATCH", f"/tunes/{_ID}/prompts/{_ID}", _prompt_actions.patch_prompt),
    _route("DELETE", f"/tunes/{_ID}/prompts/{_ID}", _prompts.delete_prompt),
    _route("GET", "/prompts", _prompts.list_prompts),
    _route("POST", "/prompts", _prompts.post_prompts),
    _route("GET", f"/prompts/{_ID}", _prompts.get_prompt),
    _route("PATCH", f"/prompts/{_ID}", _prompt_actions.patch_prompt),
    _route("POST", f"/prompts/{_ID}/duplicate", _prompt_actions.duplicate_prompt),
    _route("POST", f"/prompts/{_ID}/likes?", _prompt_actions.like_prompt),
    _route("DELETE", f"/prompts/{_ID}/likes?", _prompt_actions.unlike_prompt),
    _route("DELETE", f"/prompts/{_ID}", _prompts.delete_prompt),
    _route("GET", "/gallery/tunes", _tunes.list_gallery_tunes),
    _route("GET", "/packs", _packs.list_packs),
    _route("POST", "/packs", _packs.post_pack),
    _route("GET", "/gallery/packs", _packs.list_gallery_packs),
    _route("GET", f"/p/{_KEY}", _packs.get_pack),
    _route("POST", f"/p/{_KEY}/tunes", _packs.run_pack),
    _route("GET", "/gallery", _gallery.gallery_feed, auth=False, scoped=False),
    _route("POST", "/images/inspect", _gallery.inspect_image, scoped=False),
    _route("GET", "/users", _account.get_user, scoped=False),
    _route("GET", "/cli/models", _account.cli_models, auth=False, scoped=False),
    _route("GET", "/workspaces", _account.list_workspaces, scoped=False),
    _route("POST", "/workspaces", _account.post_workspace, scoped=False),
    _route("GET", f"/workspaces/{_KEY}", _account.get_workspace, scoped=False),
    _route("PATCH", f"/workspaces/{_KEY}", _account.patch_workspace, scoped=False),
    # Result and upload URLs are public, like mp.astria.ai links (API notes §4 images).
    _route("GET", f"/mp/{_TOKEN}(?:/mock)?", _misc.get_image, auth=False, scoped=False),
    _route("POST", "/api/direct_uploads", _misc.post_direct_upload, scoped=False),
    _route("PUT", f"/rails/active_storage/disk/{_TOKEN}", _misc.put_direct_upload, auth=False,
           scoped=False),
)


def match(method: str, path: str) -> tuple[Route | None, tuple[str, ...]]:
    """The route for ``method path`` (``.json`` already stripped) and its captures."""
    if method == "HEAD":  # aiohttp drops the body of HEAD answers itself
        method = "GET"
    for route in ROUTES:
        if route.method == method:
            found = route.pattern.match(path)
            if found:
                return route, found.groups()
    return None, ()


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)


def _to_response(reply: Reply) -> web.Response:
    if reply.data is None:
        return _json(reply.status, reply.json)
    response = web.Response(status=reply.status, body=reply.data)
    if reply.content_type:
        response.content_type = reply.content_type
    return response


def _fault_response(fault: Fault) -> web.Response | None:
    """The injected answer; None means drop the connection."""
    if fault.kind == "reset":
        return None
    if fault.kind == "malformed":
        body = fault.body if fault.body is not None else "<html><body>502 Bad Gateway</body></html>"
        return web.Response(status=200, text=str(body), content_type="text/html")
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    if fault.body is None or isinstance(fault.body, (dict, list)):
        body = fault.body if fault.body is not None else {"error": HTTPStatus(fault.status).phrase}
        return _json(fault.status, body, headers)
    return web.Response(status=fault.status, text=str(fault.body), headers=headers)


async def _body(request: web.Request) -> tuple[dict[str, Any], bytes]:
    """Parse JSON roots or Rails-style form fields; anything else stays raw bytes."""
    if request.content_type == "application/json":
        text = await request.text()
        try:
            body = json.loads(text) if text.strip() else {}
        except ValueError:
            raise HttpError(400, {"error": "the request body is not valid JSON"}) from None
        if not isinstance(body, dict):
            raise HttpError(400, {"error": "the request body must be a JSON object"})
        return body, b""
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return parse_pairs(_form_pairs(await request.post())), b""
    return {}, await request.read()


def _form_pairs(form: MultiDictProxy[Any]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in form.items():
        if isinstance(value, web.FileField):
            value = UploadedFile(value.filename, value.content_type, value.file.read())
        elif isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        pairs.append((key, value))
    return pairs


class Dispatcher:
    """The single aiohttp handler behind every path."""

    def __init__(self, store: Store, faults: Faults, log: list[RequestRecord], api_key: str,
                 on_request: Callable[[], None], control: Control | None = None) -> None:
        """Wire the handler to the fake's state."""
        self.store = store
        self.faults = faults
        self.log = log
        self.api_key = api_key
        self.on_request = on_request
        self.control = control
        self.on_record: Callable[[RequestRecord], None] | None = None
        self.errors: list[BaseException] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Apply faults, serve the route, log the outcome."""
        if self.control is not None and request.path.startswith(CONTROL_PREFIX):
            if not self._authorized(request):
                return _json(401, {"error": "Unauthorized: missing or invalid API key"})
            return await self.control.handle(request)
        delay, fault = self.faults.take(request.method, request.path)
        if delay.before:
            await asyncio.sleep(delay.before)  # real latency: a slow network/gateway
        response: web.Response | None
        if fault is not None and not fault.after_commit:
            response = _fault_response(fault)
        else:
            response = await self._serve(request)
            if fault is not None:  # committed, but the answer is lost (API notes §13, 504)
                response = _fault_response(fault)
        self._log(request, response, fault)
        if delay.after:
            # Committed, answer held back: a client timeout now is "timeout after commit".
            await asyncio.sleep(delay.after)
        return self._finish(request, response)

    def _log(self, request: web.Request, response: web.Response | None,
             fault: Fault | None) -> None:
        record = RequestRecord(
            method=request.method, path=request.path, query=dict(request.query),
            status=None if response is None else response.status,
            workspace=request.headers.get("X-Workspace-Id"),
            fault=None if fault is None else fault.kind, at=self.store.clock.now(),
        )
        self.log.append(record)
        if self.on_record is not None:
            self.on_record(record)
        if request.method not in ("GET", "HEAD"):
            self.on_request()  # a write may have scheduled a callback: wake the ticker

    @staticmethod
    def _finish(request: web.Request, response: web.Response | None) -> web.StreamResponse:
        if response is None:
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        return response

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {self.api_key}".encode())

    async def _serve(self, request: web.Request) -> web.Response | None:
        path = normalize(request.path)
        route, params = match(request.method, path)
        if route is None:
            return _json(404, {"error": "Not found"})
        if route.auth and not self._authorized(request):
            return _json(401, {"error": "Unauthorized: missing or invalid API key"})
        scope = request.headers.get("X-Workspace-Id", "").strip()
        # No header (or the CLI's literal "personal") is the personal scope (API notes §1.3).
        ctx = Ctx(self.store, request.method, path, params, now=self.store.clock.now(),
                  workspace=None if scope in ("", "personal") else scope)
        mark = self.store.mark()
        try:
            ctx.query = parse_pairs(request.query.items())
            if request.method in ("POST", "PATCH", "PUT"):
                ctx.body, ctx.raw = await _body(request)
            if not route.scoped:
                ctx.workspace = None
            elif ctx.workspace not in (None, "all") and ctx.workspace not in self.store.workspaces:
                # Astria does not create workspaces from a header: an unknown id is refused.
                raise _account.workspace_missing()
            # Rendered inside the guard: an answer that cannot be written is a fake bug too.
            return _to_response(route.handler(ctx))
        except HttpError as exc:
            return _to_response(Reply(exc.status, exc.body))
        except ParamError as exc:
            return _to_response(Reply(400, {"error": str(exc)}))
        except ConnectionResetError:  # the client left before its body arrived: nothing done
            return None
        except Exception as exc:  # a fake bug: answer 500 and keep it for the test to see
            logger.exception("FakeAstria failed on %s %s", request.method, request.path)
            self.errors.append(exc)
            self.store.undo(mark)  # what the failed request created must not poison later reads
            return _json(500, {"error": "Internal Server Error"})
