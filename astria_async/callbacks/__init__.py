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
from ._url import DEFAULT_PATH as DEFAULT_PATH
from ._url import SECRET_PARAM as SECRET_PARAM
from ._url import callback_url as callback_url

if _typing.TYPE_CHECKING:
    from ._aiohttp import RedactingAccessLogger as RedactingAccessLogger


def __getattr__(name: str) -> _typing.Any:
    # aiohttp.web costs start-up time that code without an aiohttp server should not pay.
    if name == "RedactingAccessLogger":
        from ._aiohttp import RedactingAccessLogger

        return RedactingAccessLogger
    raise AttributeError(f"module 'astria_async.callbacks' has no attribute {name!r}")
