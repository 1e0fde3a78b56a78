"""What the server adapters need of a receiver: the answer type and the decisions they call.

The bottom of the callbacks package: `_asgi` and `_aiohttp` import only this, and
`_receiver` (which offers `asgi()` / `add_route()` as conveniences) imports them, so the
imports run one way and an adapter takes any object with the `Answering` methods.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

JSON_HEADERS = (("content-type", "application/json"),)


class CallbackResponse(NamedTuple):
    """What to answer a callback request: send exactly these back with your framework.

    Attributes:
        status: the HTTP status: 200 (fed to the waits), 400 (not JSON, or JSON that is not
            an Astria tune/prompt), 403 (missing or wrong secret), 413 (body too large).
        body: the JSON answer as bytes (`{"ok": true, "kind": "prompt", "id": 7}` or
            `{"error": "..."}`); never contains the secret.
        headers: `(name, value)` pairs, `content-type: application/json` at least.
    """

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = JSON_HEADERS

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)

    @classmethod
    def of(cls, status: int, answer: Mapping[str, Any]) -> CallbackResponse:
        """A JSON answer with `status`."""
        return cls(status, json.dumps(answer, separators=(",", ":")).encode())


class Answering(Protocol):
    """The decisions a server adapter asks of a receiver (`CallbackReceiver` is one).

    The adapter checks the secret and the size itself, so that it can refuse before or
    while reading the body; `handle()` decides the rest.
    """

    @property
    def max_bytes(self) -> int: ...

    def authorised(self, query: Mapping[str, str], path: str = "") -> bool: ...

    def refused(self) -> CallbackResponse: ...

    def too_large(self) -> CallbackResponse: ...

    async def handle(self, query: Mapping[str, str], body: bytes, *,
                     path: str = "") -> CallbackResponse: ...
