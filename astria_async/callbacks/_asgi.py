"""The receiver as a plain ASGI application: no framework needed, any ASGI server or router.

What a framework route cannot do, this does: the secret is checked on the request line,
before a byte of the body is read (a client that sent `Expect: 100-continue` never sends
it), and a body is refused with 413 as soon as its announced or streamed size passes the
limit, without reading the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ._answer import Answering, CallbackResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its body was complete: nothing to answer."""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class CallbackApp:
    """A `CallbackReceiver` as an ASGI application (`receiver.asgi()`).

    Mount it at the callback path: `app.mount("/astria/callback", receiver.asgi())` in
    FastAPI/Starlette, or serve it alone (`uvicorn module:app`); it answers `lifespan` too.
    Answers: 403 (secret missing or wrong, body unread), 413 (announced or streamed body
    over `max_bytes`), 400 (not JSON, or not an Astria tune/prompt), 405 (not POST), 200
    (the waits were fed).
    """

    def __init__(self, receiver: Answering) -> None:
        self.receiver = receiver

    def __repr__(self) -> str:
        return f"CallbackApp({self.receiver!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            raise ValueError(f"the callback receiver serves HTTP only, not {kind!r}")
        answer = await self.respond(scope, receive)
        if answer is None:
            return
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def respond(self, scope: Scope, receive: Receive) -> CallbackResponse | None:
        """The answer to one HTTP request, or None if the client disconnected first."""
        receiver = self.receiver
        if scope.get("method", "GET") != "POST":
            return CallbackResponse(405, b'{"error":"use POST"}',
                                    (("content-type", "application/json"), ("allow", "POST")))
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        path = scope.get("path", "")
        if not receiver.authorised(query, path):
            return receiver.refused()
        announced = _content_length(scope)
        if announced is not None and announced > receiver.max_bytes:
            return receiver.too_large()
        try:
            body = await self._read(receive, receiver.max_bytes)
        except _Disconnected:
            return None
        if body is None:
            return receiver.too_large()
        return await receiver.handle(query, body, path=path)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> bytes | None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            body += message.get("body", b"")
            if len(body) > limit:
                return None
            if not message.get("more_body", False):
                return bytes(body)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
