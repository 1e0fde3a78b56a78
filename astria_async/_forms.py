"""Rails-style request bodies: JSON `{"tune": {...}}`, or multipart `tune[images][]` with files."""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import anyio.to_thread

from ._validators import image_kind

CHUNK = 256 * 1024


def _is_file(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, Path)) or hasattr(value, "read")


def has_files(value: Any) -> bool:
    """True when a payload holds a file anywhere, so it must go as multipart (API notes §1.1)."""
    if _is_file(value):
        return True
    if isinstance(value, Mapping):
        return any(has_files(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_files(v) for v in value)
    return False


def flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Rails bracket names: lists of scalars as `k[]`, lists of objects as `k[0][f]`."""
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(f"{prefix}[{key}]" if prefix else str(key), item)
    elif isinstance(value, (list, tuple)):
        if any(isinstance(item, Mapping) for item in value):
            for index, item in enumerate(value):
                yield from flatten(f"{prefix}[{index}]", item)
        else:
            for item in value:
                yield from flatten(f"{prefix}[]", item)
    elif isinstance(value, bool):
        yield prefix, "true" if value else "false"
    elif _is_file(value):
        yield prefix, value
    else:
        yield prefix, str(value)


def _sniff(head: bytes) -> str:
    kind = image_kind(head)
    return f"image/{kind}" if kind else "application/octet-stream"


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    # The caller's file object: read it in a worker thread and never close it (it is theirs).
    while True:
        chunk = await anyio.to_thread.run_sync(file.read, CHUNK)
        if not chunk:
            return
        yield chunk


class Body:
    """A request body that can be rebuilt for each attempt (aiohttp consumes a FormData once)."""

    def __init__(self, root: str | None, payload: Mapping[str, Any]) -> None:
        """`root` is the Rails resource key ("tune", "prompt"); None sends `payload` bare."""
        self.multipart = has_files(payload)
        wrapped = {root: dict(payload)} if root else dict(payload)
        self.json: dict[str, Any] | None = None if self.multipart else wrapped
        self._fields = list(flatten("", wrapped)) if self.multipart else []
        # Record where the caller's file objects start so a retry re-sends the same bytes.
        self._starts: dict[int, int] = {}
        self.replayable = True
        for _, value in self._fields:
            if hasattr(value, "read") and not isinstance(value, Path):
                try:
                    self._starts[id(value)] = value.tell()
                except (OSError, AttributeError, io.UnsupportedOperation):
                    self.replayable = False

    def form(self) -> aiohttp.FormData:
        """A fresh multipart form; files are streamed, never read whole into memory."""
        form = aiohttp.FormData()
        for index, (name, value) in enumerate(self._fields):
            if not _is_file(value):
                form.add_field(name, value)
                continue
            filename, content_type, data = self._file_part(index, value)
            form.add_field(name, data, filename=filename, content_type=content_type)
        return form

    def _file_part(self, index: int, value: Any) -> tuple[str, str, Any]:
        if isinstance(value, Path):
            content_type = mimetypes.guess_type(value.name)[0] or "application/octet-stream"
            # aiohttp streams an opened file in chunks from a worker thread and closes it.
            return value.name, content_type, open(value, "rb")
        if isinstance(value, (bytes, bytearray)):
            content_type = _sniff(bytes(value[:12]))
            ext = mimetypes.guess_extension(content_type) or ".bin"
            return f"file{index}{ext}", content_type, bytes(value)
        start = self._starts.get(id(value))
        if start is not None:
            value.seek(start)
        name = os.path.basename(str(getattr(value, "name", "") or f"file{index}"))
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return name, content_type, _chunks(value)
