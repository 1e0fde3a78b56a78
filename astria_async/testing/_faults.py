"""Fault injection rules and the request log."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["fail", "reset", "slow", "malformed"]


def normalize(path: str) -> str:
    """Strip a trailing slash and the optional ``.json`` suffix (API notes §1.1).

    Rails routes accept both (``/tunes/``, ``/prompts/1.json``), so rules, counts
    and routing all see one path.
    """
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path[: -len(".json")] if path.endswith(".json") else path


@dataclass
class Fault:
    """One armed fault; ``remaining=None`` keeps it armed forever."""

    kind: FaultKind
    prefix: str
    remaining: int | None = 1
    method: str | None = None
    status: int = 500
    retry_after: float | str | None = None
    after_commit: bool = False
    body: Any = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data (``POST``/``GET /_fake/faults``)."""
        return {"kind": self.kind, "path_prefix": self.prefix, "count": self.remaining,
                "method": self.method, "status": self.status, "retry_after": self.retry_after,
                "after_commit": self.after_commit, "body": self.body, "seconds": self.seconds}

    def matches(self, method: str, path: str) -> bool:
        """Same method (if set) and the path starts with the prefix."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return normalize(path).startswith(normalize(self.prefix))


@dataclass
class Delays:
    """Seconds to hold a request before serving it and to hold its answer after."""

    before: float = 0.0
    after: float = 0.0


class Faults:
    """Armed faults, consumed in the order they were added."""

    def __init__(self) -> None:
        """No faults armed."""
        self.rules: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Arm a fault."""
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("count must be >= 1 (or None for every request)")
        self.rules.append(fault)
        return fault

    def take(self, method: str, path: str) -> tuple[Delays, Fault | None]:
        """Consume matching rules: the ``slow`` delays plus the first terminal fault."""
        delay = Delays()
        terminal: Fault | None = None
        for rule in list(self.rules):
            if not rule.matches(method, path):
                continue
            if rule.kind == "slow":
                if rule.after_commit:
                    delay.after += rule.seconds
                else:
                    delay.before += rule.seconds
            elif terminal is None:
                terminal = rule
            else:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self.rules.remove(rule)
        return delay, terminal

    def clear(self) -> None:
        """Disarm everything."""
        self.rules.clear()


@dataclass(frozen=True)
class RequestRecord:
    """One request the fake answered, as kept in :attr:`FakeAstria.requests`.

    ``method`` and ``path`` as sent (``path`` keeps ``.json``; :attr:`route` drops
    it), ``query`` the query string as a dict (the last value of a repeated key),
    ``status`` the status answered (None when the connection was dropped),
    ``workspace`` the ``X-Workspace-Id`` header (None without one), ``fault`` the
    kind of injected fault that shaped the answer (None for a normal answer) and
    ``at`` the fake clock's time (epoch seconds) when it was answered.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    workspace: str | None
    fault: FaultKind | None
    at: float

    @property
    def route(self) -> str:
        """The path without ``.json`` or a trailing slash."""
        return normalize(self.path)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (``GET /_fake/requests``, ``--log`` lines)."""
        return {"method": self.method, "path": self.path, "route": self.route,
                "query": self.query, "status": self.status, "workspace": self.workspace,
                "fault": self.fault, "at": self.at}


def count(records: list[RequestRecord], method: str, pattern: str) -> int:
    """Requests whose method matches (``*`` = any) and whose path fnmatches ``pattern``."""
    return sum(
        1 for r in records
        if method == "*" or method.upper() == r.method
        if fnmatch.fnmatchcase(r.route, normalize(pattern))
    )
