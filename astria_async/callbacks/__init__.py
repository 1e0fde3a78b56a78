"""Callbacks (webhooks): URLs with a secret, a lenient parser, and a receiver that feeds waits.

Astria POSTs the finished object as JSON to the callback URL, unsigned and never retried
(API notes §12). So the URL carries its own secret (query string, or path), the receiver
checks it in constant time, and polling stays on as the safety net for callbacks that never
come. `SecretFilter` keeps the secret out of any log.

Modules: `_url` (URLs and the secret check), `_parse` (bodies), `_receiver` (the decision,
`handle()`), `_asgi` (the ASGI app), `_aiohttp` (the aiohttp route and access logger, loaded
on first use), `_logs` (redaction).
"""

from __future__ import annotations

import typing as _typing

from .._lazy import lazy_getattr as _lazy_getattr
from ._url import DEFAULT_PATH as DEFAULT_PATH
from ._url import SECRET_PARAM as SECRET_PARAM
from ._url import callback_url as callback_url

# Loaded on first use (PEP 562): a client needs only `callback_url`; the receiver, the ASGI
# app and the parser cost start-up time that code which serves no callbacks should not pay,
# and `_aiohttp` imports aiohttp.web.
_LAZY = {
    "CallbackApp": "._asgi",
    "SecretFilter": "._logs",
    "redact": "._logs",
    "Callback": "._parse",
    "parse_callback": "._parse",
    "DEFAULT_MAX_BYTES": "._receiver",
    "CallbackReceiver": "._receiver",
    "CallbackResponse": "._receiver",
    "OnObject": "._receiver",
    "Receiving": "._receiver",
    "RedactingAccessLogger": "._aiohttp",
}

if _typing.TYPE_CHECKING:
    from ._aiohttp import RedactingAccessLogger as RedactingAccessLogger
    from ._asgi import CallbackApp as CallbackApp
    from ._logs import SecretFilter as SecretFilter
    from ._logs import redact as redact
    from ._parse import Callback as Callback
    from ._parse import parse_callback as parse_callback
    from ._receiver import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
    from ._receiver import CallbackReceiver as CallbackReceiver
    from ._receiver import CallbackResponse as CallbackResponse
    from ._receiver import OnObject as OnObject
    from ._receiver import Receiving as Receiving


__getattr__ = _lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = sorted(["DEFAULT_PATH", "SECRET_PARAM", "callback_url", *_LAZY])
