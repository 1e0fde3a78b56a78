"""Request context, replies and error answers shared by the route modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._store import Store


class HttpError(Exception):
    """An error answer: status plus JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        """Keep the status and body for the dispatcher."""
        super().__init__(status, body)
        self.status = status
        self.body = body


def unprocessable(message: str) -> HttpError:
    """422 ``{"error": message}``, the shape Astria's own agent displays (API notes §13)."""
    return HttpError(422, {"error": message})


def not_found() -> HttpError:
    """404 for a missing object or one that is not yours (API notes §13)."""
    return HttpError(404, {"error": "Record not found"})


@dataclass(frozen=True)
class Reply:
    """A handler's answer: JSON (``json``) or raw bytes (``data``)."""

    status: int = 200
    json: Any = None
    data: bytes | None = None
    content_type: str = "application/json"


def empty(status: int) -> Reply:
    """An answer without a body (DELETE /tunes/:id → plain 200, API notes §3.6)."""
    return Reply(status, data=b"", content_type="")


@dataclass
class Ctx:
    """One parsed request as the handlers see it."""

    store: Store
    method: str
    path: str
    params: tuple[str, ...]
    now: float
    workspace: str | None = None
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""

    def home(self) -> str | None:
        """The workspace a create lands in (``all`` only widens lists)."""
        return None if self.workspace == "all" else self.workspace

    def root(self, key: str) -> dict[str, Any]:
        """The ``{"tune": {...}}`` root; Rails' params.require answers 400 without it."""
        value = self.body.get(key)
        if not isinstance(value, dict):
            raise HttpError(400, {"error": f"param is missing or the value is empty: {key}"})
        return value

    def expand(self) -> tuple[str, ...]:
        """``expand[]=debug_images`` (also a bare ``expand=``), as a tuple of names."""
        value = self.query.get("expand")
        items = value if isinstance(value, list) else [] if value in (None, "") else [value]
        return tuple(str(item) for item in items)

    def flag(self, key: str) -> bool:
        """A ``key=true`` query filter (``1`` and ``yes`` too, as Rails casts booleans)."""
        return str(self.query.get(key, "")).strip().lower() in ("true", "1", "yes", "t", "on")

    def int_param(self, key: str) -> int | None:
        """An integer query parameter, or None when absent or not a number."""
        value = self.query.get(key)
        try:
            return int(str(value)) if value not in (None, "") else None
        except ValueError:
            return None

    def paging(self, *, max_offset: int, max_limit: int = 120) -> tuple[int | None, int, int]:
        """``before_id``, ``offset`` and clamped ``limit`` (API notes §3.1, §5.3)."""
        limit = self.int_param("limit")
        limit = 20 if limit is None else min(max(limit, 1), max_limit)
        offset = max(self.int_param("offset") or 0, 0)
        if offset > max_offset:
            raise HttpError(400, {
                "error": f"offset must not exceed {max_offset}; use before_id to paginate deeper",
            })
        return self.int_param("before_id"), offset, limit
