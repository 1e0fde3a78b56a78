"""One client per running event loop, closed with its loop.

An aiohttp session belongs to the loop it was created in. Where loops come and go (a Django
async view under WSGI runs each request in a new loop through `asgiref.async_to_sync`;
a script may call `asyncio.run()` several times), a module-level client works once and then
fails with `ClientClosedError` or a session bound to a dead loop, leaking connections.
`PerLoopClient.get()` hands out the client of the running loop, creating it on first use,
and closes it when the loop shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any

from .._client import AstriaClient


class PerLoopClient:
    """One `AstriaClient` per running event loop, created on first use, closed with the loop.

    `PerLoopClient(**options)` takes `AstriaClient`'s keyword arguments (or `factory=`, a
    callable returning a new client). Keep one at module level and call `.get()` inside
    async code:

        astria = PerLoopClient(callback_secret=settings.ASTRIA_CALLBACK_SECRET)

        async def view(request):
            client = astria.get()

    How the client closes with its loop: it is tied to an async generator that the loop
    tracks, and `loop.shutdown_asyncgens()` (called by `asyncio.run()` and by asgiref before
    a loop is closed) closes it there, in its own loop. A loop closed by hand should call
    `await loop.shutdown_asyncgens()` first, or `await clients.aclose()` on it.
    """

    def __init__(self, factory: Callable[[], AstriaClient] | None = None,
                 **options: Any) -> None:
        if factory is not None and options:
            raise TypeError("give either factory= or AstriaClient keyword arguments, not both")
        self._factory = factory or (lambda: AstriaClient(**options))
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AstriaClient, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"PerLoopClient(loops={len(self._clients)})"

    def get(self) -> AstriaClient:
        """The running loop's client (a new one the first time, or after it was closed).

        Raises:
            RuntimeError: no event loop is running (call it from async code).
        """
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is not None and not entry[0].closed:
            return entry[0]
        client = self._factory()
        closer = self._closer(loop, client)
        # Starting the generator registers it with the running loop (its first-iteration
        # hook); it yields at once, so one step runs it to its `yield` synchronously.
        step = closer.asend(None)
        with contextlib.suppress(StopIteration):  # the yield, reached: the step is done
            step.send(None)
        self._clients[loop] = (client, closer)
        return client

    async def _closer(self, loop: asyncio.AbstractEventLoop,
                      client: AstriaClient) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            # Dropped first: the entry refers to its loop (through the client's session), so
            # left in place it would keep the dead loop alive.
            if self._clients.get(loop, (None,))[0] is client:
                del self._clients[loop]
            await client.aclose()

    async def aclose(self) -> None:
        """Close the running loop's client now, if it has one."""
        entry = self._clients.get(asyncio.get_running_loop())
        if entry is not None:
            await entry[1].aclose()
