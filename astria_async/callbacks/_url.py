"""Callback URLs: the caller's context and a secret, since Astria neither signs nor templates.

Astria POSTs the finished object to the URL given at create time, unsigned and never retried
(API notes §12). The URL therefore carries its own secret: in the query string by default, or
as the last path segment (`secret_in_path=True`) for servers and tracers that record query
strings no matter what.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ..errors import InvalidParamsError

SECRET_PARAM = "astria_secret"
DEFAULT_PATH = "/astria/callback"


def callback_url(base: str, secret: str, *, secret_in_path: bool = False,
                 **context: str | int) -> str:
    """`base` with `context` added to its query string, and the secret.

    Astria does not template callback URLs, so anything the receiver needs to know (your
    order or user id) goes into the query string (API notes §12).

    Args:
        base: the absolute http(s) URL your `CallbackReceiver` serves.
        secret: the secret the receiver checks (the client's `callback_secret`).
        secret_in_path: put the secret as a last path segment (`…/astria/callback/<secret>`)
            instead of the `astria_secret` query parameter.
        context: extra query parameters handed back to the receiver's `on_object`.

    Raises:
        InvalidParamsError: `base` is not an absolute http(s) URL, or `context` uses the
            reserved `astria_secret` name.
    """
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParamsError("base", "a callback URL must be absolute http(s), since "
                                 f"Astria calls it from outside, got {base!r}")
    if SECRET_PARAM in context:
        raise InvalidParamsError(SECRET_PARAM, "is reserved for the callback secret")
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != SECRET_PARAM]
    pairs += [(k, str(v)) for k, v in context.items()]
    path = parts.path
    if secret_in_path:
        path = f"{path.rstrip('/')}/{quote(secret, safe='')}"
    else:
        pairs.append((SECRET_PARAM, secret))
    return urlunsplit(parts._replace(path=path, query=urlencode(pairs)))


def secret_matches(expected: bytes, query: Mapping[str, str], path: str = "") -> bool:
    """Whether the query's `astria_secret`, or else the last segment of `path`, is `expected`.

    Both comparisons are constant-time, so a wrong guess tells nothing about the secret.
    """
    given = query.get(SECRET_PARAM)
    if given is not None:
        return hmac.compare_digest(given.encode(), expected)
    last = unquote(path.rstrip("/").rpartition("/")[2]) if path else ""
    return bool(last) and hmac.compare_digest(last.encode(), expected)
