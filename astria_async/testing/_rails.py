"""Rails/Rack-style nested parameter parsing (``tune[prompts_attributes][][text]``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_NAME_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")


class ParamError(ValueError):
    """Conflicting or malformed parameter names (Rack answers 400)."""


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part, like Rails' ActionDispatch::Http::UploadedFile."""

    filename: str
    content_type: str
    data: bytes


def split_key(key: str) -> list[str]:
    """``tune[images][]`` → ``["tune", "images", ""]``."""
    match = _NAME_RE.match(key)
    if match is None:
        raise ParamError(f"invalid parameter name: {key!r}")
    return [match.group(1), *_PART_RE.findall(match.group(2))]


def parse_pairs(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Build nested params from (name, value) pairs in request order, as Rack does."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        _assign(params, split_key(key), value, key)
    return {key: _lists_from_indexes(value) for key, value in params.items()}


def _assign(container: dict[str, Any], parts: list[str], value: Any, key: str) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        container[head] = value
        return
    if rest[0] == "":
        items = container.setdefault(head, [])
        if not isinstance(items, list):
            raise ParamError(f"expected an array for {key!r}")
        if len(rest) == 1:
            items.append(value)
            return
        # Rack's array-of-hashes rule: a repeated child key starts a new hash,
        # so `a[][text]=x&a[][seed]=1&a[][text]=y` yields two hashes.
        last = items[-1] if items else None
        if isinstance(last, dict) and not _has_path(last, rest[1:]):
            _assign(last, rest[1:], value, key)
        else:
            fresh: dict[str, Any] = {}
            items.append(fresh)
            _assign(fresh, rest[1:], value, key)
        return
    child = container.setdefault(head, {})
    if not isinstance(child, dict):
        raise ParamError(f"expected a hash for {key!r}")
    _assign(child, rest, value, key)


def _has_path(node: dict[str, Any], parts: list[str]) -> bool:
    current: Any = node
    for part in parts:
        if part == "":
            return False
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return True


def _lists_from_indexes(node: Any) -> Any:
    """Turn ``{"0": {...}, "1": {...}}`` into a list, as nested attributes accept it."""
    if isinstance(node, list):
        return [_lists_from_indexes(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_indexes(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
