"""A loopback webhook receiver that records what it gets, for tests and demos."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

from aiohttp import web


class CallbackRecorder:
    """Listens on 127.0.0.1 and keeps every POSTed JSON body (any path) in ``received``."""

    def __init__(self, *, status: int = 200) -> None:
        """Answer every callback with ``status``."""
        self.status = status
        self.received: list[Any] = []
        self.paths: list[str] = []
        self._runner: web.AppRunner | None = None
        self._arrived: asyncio.Condition | None = None
        self.base_url = ""

    def url(self, path: str = "/callback") -> str:
        """A callback URL on this receiver (query strings are kept in ``paths``)."""
        return f"{self.base_url}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        assert self._arrived is not None
        async with self._arrived:
            self.received.append(json.loads(body) if body else None)
            self.paths.append(request.path_qs)
            self._arrived.notify_all()
        return web.Response(status=self.status)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Wait until ``count`` bodies arrived (TimeoutError otherwise); returns them all."""
        assert self._arrived is not None
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.received) >= count), timeout)
        return list(self.received)

    async def __aenter__(self) -> CallbackRecorder:
        """Start listening on an ephemeral loopback port."""
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._arrived = asyncio.Condition()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
