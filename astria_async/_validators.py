"""Small reusable checkers for `params`: each takes (field, value), returns the wire value
or raises InvalidParamsError naming the field and what is allowed."""

from __future__ import annotations

import io
import math
import os
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import quote, urlsplit

from .errors import InvalidParamsError

# A checker gets (field, value) and returns the wire value or raises InvalidParamsError.
Checker: TypeAlias = Callable[[str, Any], Any]


def fail(field: str, problem: str) -> typing.NoReturn:
    """Raise the one error type of this module."""
    raise InvalidParamsError(field, problem)


def _is_int(value: object) -> bool:
    """A real int: bool is an int subclass but means something else on the wire."""
    return isinstance(value, int) and not isinstance(value, bool)


def unset(value: object) -> bool:
    """None and empty collections are not checked ("" is: it is no bool, number or file)."""
    if value is None:
        return True
    return (
        isinstance(value, (Sequence, Mapping))
        and not isinstance(value, (str, bytes, bytearray))
        and not value
    )


# --- small reusable checkers ---------------------------------------------------------------


def instance(kind: type[Any], what: str) -> Checker:
    """A value of exactly this type family, e.g. a real bool (1 or "true" are not)."""

    def check(field: str, value: Any) -> Any:
        if not isinstance(value, kind):
            fail(field, f"must be {what}, got {value!r}")
        return value

    return check


# The form encoder writes real bools as true/false (API notes §1.1); 1 or "yes" would be sent as is.
boolean = instance(bool, "True or False")


def string(field: str, value: Any) -> str:
    """A str that can be sent: UTF-8 has no lone surrogates (e.g. from a bad decode)."""
    if not isinstance(value, str):
        fail(field, f"must be a string, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        fail(field, f"contains a lone surrogate {value[exc.start]!r} at index {exc.start}; it "
                    "is not valid UTF-8 (decode the text with errors='replace')")
    return value


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def nonblank(field: str, value: Any) -> str:
    """A str with something other than whitespace in it."""
    if not string(field, value).strip():
        fail(field, "must not be blank")
    return typing.cast(str, value)


def integer(lo: int | None = None, hi: int | None = None, *, multiple_of: int = 1) -> Checker:
    """An int (not bool) in [lo, hi], optionally a multiple of `multiple_of`."""
    if multiple_of > 1:
        what = f"a positive multiple of {multiple_of}"
    elif hi is not None:
        what = f"an integer from {lo} to {hi}"
    else:
        what = "a positive integer" if lo == 1 else f"an integer >= {lo}"

    def check(field: str, value: Any) -> int:
        in_range = _is_int(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
        if not in_range or value % multiple_of:
            fail(field, f"must be {what}, got {value!r}")
        return typing.cast(int, value)

    return check


def number(lo: float | None = None, hi: float | None = None) -> Checker:
    """A finite int or float (not bool) in [lo, hi]."""
    what = "a finite number" if lo is None or hi is None else f"a number from {lo:g} to {hi:g}"

    def check(field: str, value: Any) -> float:
        # Ints skip isfinite: it overflows on huge ints, which the range check refuses anyway.
        ok = _is_int(value) or (isinstance(value, float) and math.isfinite(value))
        if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
            fail(field, f"must be {what}, got {value!r}")
        return typing.cast(float, value)

    return check


def one_of(*allowed: object) -> Checker:
    """Exactly one of the spec's values: same type and case (so True is not 1)."""
    listing = ", ".join(repr(a) for a in allowed)

    def check(field: str, value: Any) -> Any:
        if not any(type(value) is type(a) and value == a for a in allowed):
            fail(field, f"must be one of {listing}, got {value!r}")
        return value

    return check


def choice(values: str) -> Checker:
    """one_of for a `|`-separated list of strings (keeps the tables below compact)."""
    return one_of(*values.split("|"))


def url(field: str, value: Any) -> str:
    """An absolute http(s) URL, made ASCII: IDNA host, the rest percent-encoded."""
    if not isinstance(value, str):
        fail(field, f"must be a string, got {value!r}")
    if _control(value):
        fail(field, f"must not contain control characters, got {value!r}")
    try:  # lone surrogates, bad IPv6 brackets and unencodable hosts all end up here
        parts = urlsplit(value.encode("utf-8").decode("utf-8"))
        netloc = parts.netloc.encode("idna").decode("ascii")
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        fail(field, f"must be an absolute http:// or https:// URL, got {value!r}")
    # API notes §3.4: Astria answers 422 "could not download" for non-ASCII URLs unless encoded.
    value = value.replace(parts.netloc, netloc, 1)
    return "".join(quote(c) if ord(c) > 126 or c == " " else c for c in value)


def data_url(field: str, value: Any) -> str:
    """A `data:[type][;base64],payload` URL (API notes §5.1 input_image_base64)."""
    if not string(field, value).startswith("data:") or "," not in value:
        fail(field, "must be a data: URL such as 'data:image/png;base64,...'")
    return typing.cast(str, value)


def file_input(url_twin: str) -> Checker:
    """A local file: bytes or a binary file object as is, a path to an existing file as Path."""

    def check(field: str, value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            if not value:
                fail(field, "must not be empty bytes")
            return value
        if isinstance(value, io.TextIOBase):
            fail(field, "is a text-mode file; open it in binary mode ('rb')")
        if hasattr(value, "read"):
            if getattr(value, "closed", False):
                fail(field, "is a closed file")
            name = getattr(value, "name", None)
            # The name goes into the multipart part's header: CR/LF there would forge headers.
            if isinstance(name, str) and _control(name):
                fail(field, f"file name must not contain control characters, got {name!r}")
            return value
        if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
            fail(field, f"is a URL; pass URLs in {url_twin} instead")
        if not isinstance(value, (str, os.PathLike)) or not isinstance(os.fspath(value), str):
            fail(field, f"must be a file path, bytes or a binary file object, got {value!r}")
        path = Path(value)
        if _control(path.name):
            fail(field, f"file name must not contain control characters, got {path.name!r}")
        if not path.is_file():
            fail(field, f"no such file: {str(path)!r}")
        return path

    return check


# ISO-BMFF brands of HEIC/HEIF and AVIF stills and sequences (bytes 8-12 after "ftyp").
_BMFF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1",
                          b"msf1", b"avif", b"avis"})


def image_kind(head: bytes) -> str | None:
    """The image format the leading bytes announce (None when not one Astria trains on)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _BMFF_BRANDS:
        return "avif" if head[8:12] in (b"avif", b"avis") else "heic"
    return None


IMAGE_KINDS = "JPEG, PNG, WebP, HEIC or AVIF"


def _head(value: Any) -> bytes | None:
    """The first 16 bytes of a file input, read without consuming it (None: cannot peek)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:16])
    if isinstance(value, Path):
        with value.open("rb") as file:
            return file.read(16)
    seekable = getattr(value, "seekable", None)
    if not (seekable() if callable(seekable) else hasattr(value, "seek")):
        return None  # a pipe or socket: its bytes can be read only once, by the upload
    try:
        start = value.tell()
        head = value.read(16)
        value.seek(start)
    except (OSError, ValueError):
        return None
    return head if isinstance(head, bytes) else None


def image_file(url_twin: str) -> Checker:
    """`file_input` whose leading bytes are an image Astria trains on (a text file is not)."""
    as_file = file_input(url_twin)

    def check(field: str, value: Any) -> Any:
        value = as_file(field, value)
        head = _head(value)
        if head is not None and image_kind(head) is None:
            name = getattr(value, "name", None) if not isinstance(value, Path) else value
            what = f"{str(name)!r}" if name else "the data"
            fail(field, f"{what} is not a {IMAGE_KINDS} image (it starts with {head[:8]!r})")
        return value

    return check


def seq(item: Checker, what: str) -> Checker:
    """A list/tuple (not a lone str or bytes) whose items pass `item`, named `field[i]`."""

    def check(field: str, value: Any) -> list[Any]:
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            fail(field, f"must be a list of {what}, got {value!r}")
        return [item(f"{field}[{i}]", v) for i, v in enumerate(value)]

    return check


def characteristics(field: str, value: Any) -> dict[str, Any]:
    """Free-form {{key}} substitutions (API notes §3.4): non-empty str keys, str or number
    values."""
    if not isinstance(value, Mapping):
        fail(field, f"must be a mapping of name to value, got {value!r}")
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            fail(field, f"keys must be non-empty strings, got {key!r}")
        if not (isinstance(val, (str, float)) or _is_int(val)):
            fail(f"{field}.{key}", f"must be a string or a number, got {val!r}")
    return dict(value)


positive = integer(lo=1)
urls = seq(url, "http(s) URLs")


def each(names: str, check: Checker) -> dict[str, Checker]:
    """The same checker for several space-separated field names."""
    return dict.fromkeys(names.split(), check)
