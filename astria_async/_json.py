"""The one JSON decoder of the library: whatever the bytes, a value or a typed error.

Every answer body (API replies, error bodies) and every callback body is decoded here, so
that a hostile body — nested 200,000 levels deep, not JSON, not UTF-8, an integer of 100,000
digits — becomes `APIResponseValidationError` instead of a bare `RecursionError` or
`ValueError` escaping into a wait, the callback receiver or the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import APIResponseValidationError


def _accelerator() -> Callable[[bytes | str], Any] | None:
    # orjson, when installed (the `fast` extra), decodes 2-4x faster than `json`; a list page
    # of 120 prompts is most of a board refresh's CPU.
    try:
        import orjson  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    fast: Callable[[bytes | str], Any] = orjson.loads
    return fast


_fast = _accelerator()


def loads(data: bytes | str) -> Any:
    """Decode a JSON document (with orjson when installed, else `json`; the same values).

    Raises:
        APIResponseValidationError: the text is not JSON, or too deeply nested to decode
            (`body` holds the first 1,000 characters).
    """
    if _fast is not None:
        try:
            return _fast(data)
        except ValueError:
            # orjson refuses what `json` takes (integers beyond 64 bits, NaN) or names the
            # fault differently (nesting past 1,024 levels): the reference decides.
            pass
    try:
        return json.loads(data)
    except RecursionError:
        # The C decoder recurses once per nesting level; the stack unwound before we got here.
        raise APIResponseValidationError(
            "the body is JSON nested too deeply to decode", body=data[:1000]) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise APIResponseValidationError(
            f"the body is not JSON ({exc}): {data[:200]!r}", body=data[:1000]) from None
