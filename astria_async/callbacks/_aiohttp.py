"""The receiver on aiohttp (imported on first use: `import astria_async` never pulls in
aiohttp.web), and an access logger that leaves query strings out."""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ._answer import Answering, CallbackResponse


def _send(answer: CallbackResponse) -> web.Response:
    return web.Response(body=answer.body, status=answer.status, headers=dict(answer.headers))


async def serve(receiver: Answering, request: web.Request) -> web.StreamResponse:
    """Answer one callback request: secret before the body, size while it streams."""
    query = dict(request.query)
    if not receiver.authorised(query, request.path):
        return _send(receiver.refused())
    length = request.content_length
    if length is not None and length > receiver.max_bytes:
        return _send(receiver.too_large())
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > receiver.max_bytes:
            return _send(receiver.too_large())
    return _send(await receiver.handle(query, bytes(body), path=request.path))


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp access log without query strings, so the callback secret never reaches logs.

    aiohttp's default access log writes the full request line, secret included: pass
    `access_log_class=RedactingAccessLogger` to `web.run_app` or `web.AppRunner` (or attach
    a `SecretFilter` to the `aiohttp.access` logger and keep its format).
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """One line: client address, method, path (no query), status, seconds."""
        from ._logs import redact

        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method,
                         redact(request.path), response.status, time)
