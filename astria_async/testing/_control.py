"""The control API for tests in other languages: ``/_fake/requests`` and ``/_fake/faults``.

Both need the fake's key.  Fault bodies take the keyword arguments of
:meth:`FakeAstria.fail`, ``reset``, ``slow`` and ``malformed`` plus ``kind``, e.g.
``{"kind": "fail", "path_prefix": "/prompts", "status": 429, "retry_after": 2}``.
Control requests are neither logged nor subject to faults.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from ._faults import Fault, Faults, RequestRecord

PREFIX = "/_fake/"
FaultMaker = Callable[..., Fault]
_NUMBER = (int, float)
# The JSON types each fault argument takes (bool is not a number here).
_TYPES: dict[str, tuple[type, ...]] = {
    "path_prefix": (str,), "status": (int,), "count": (int, type(None)),
    "seconds": _NUMBER, "retry_after": (*_NUMBER, str, type(None)),
    "after_commit": (bool,), "method": (str, type(None)), "body": (object,),
}


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class Control:
    """Serves the control routes from the fake's fault rules and request log."""

    def __init__(self, faults: Faults, log: list[RequestRecord],
                 makers: Mapping[str, FaultMaker]) -> None:
        """``makers``: the fake's fault methods by kind (``fail``, ``reset``, ...)."""
        self.faults = faults
        self.log = log
        self.makers = dict(makers)

    async def handle(self, request: web.Request) -> web.Response:
        """Route one ``/_fake/...`` request (already authorised)."""
        what = request.path.removeprefix(PREFIX).rstrip("/")
        if what == "requests" and request.method == "GET":
            return _json(200, [record.to_dict() for record in self.log])
        if what == "requests" and request.method == "DELETE":
            self.log.clear()
            return web.Response(status=204)
        if what == "faults" and request.method == "GET":
            return _json(200, [rule.to_dict() for rule in self.faults.rules])
        if what == "faults" and request.method == "DELETE":
            self.faults.clear()
            return web.Response(status=204)
        if what == "faults" and request.method == "POST":
            return await self._add_fault(request)
        return _json(404, {"error": f"no control route {request.method} {request.path}"})

    async def _add_fault(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            return _json(400, {"error": "the body must be a JSON object"})
        if not isinstance(body, dict):
            return _json(400, {"error": "the body must be a JSON object"})
        kind = body.pop("kind", None)
        maker = self.makers.get(kind) if isinstance(kind, str) else None
        if maker is None:
            return _json(422, {"error": f"kind must be one of: {', '.join(self.makers)}"})
        try:
            inspect.signature(maker).bind(**body)
        except TypeError as exc:
            return _json(422, {"error": f"{kind}: {exc}"})
        for key, value in body.items():
            allowed = _TYPES.get(key, (object,))
            if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
                return _json(422, {"error": f"{kind}: {key} must be {names}"})
        try:
            fault = maker(**body)
        except (TypeError, ValueError) as exc:
            return _json(422, {"error": f"{kind}: {exc}"})
        return _json(201, fault.to_dict())
