"""Keeping callback secrets out of logs, whoever writes them (servers, frameworks, tracers).

Servers log the request line, query string included (uvicorn's access log, gunicorn's,
hypercorn's, aiohttp's, Django's). `SecretFilter` rewrites a log record before any handler
formats it: the `astria_secret` query value, the secret segment of path-form callback URLs,
and any literal secret it was given become `***`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from ._url import DEFAULT_PATH, SECRET_PARAM

MASK = "***"
_END = r"""[^&\s"'#<>,;)\]]"""  # where a secret value ends inside a logged URL or JSON
_QUERY = re.compile(rf"((?:[?&]|\b){SECRET_PARAM}(?:=|%3D))({_END}+)", re.IGNORECASE)


def _path_pattern(paths: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = [re.escape(p.rstrip("/")) for p in paths if p.strip("/")]
    if not alternatives:
        return None
    return re.compile(rf"((?:{'|'.join(alternatives)})/)([^/?\s\"'#<>]+)")


_DEFAULT_PATHS = _path_pattern([DEFAULT_PATH])


def redact(text: str, *, paths: re.Pattern[str] | None = _DEFAULT_PATHS,
           secrets: Iterable[str] = ()) -> str:
    """`text` with callback secrets masked: the query form, the path form, literal `secrets`."""
    text = _QUERY.sub(rf"\g<1>{MASK}", text)
    if paths is not None:
        text = paths.sub(rf"\g<1>{MASK}", text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """A `logging.Filter` that masks callback secrets in a record's message and arguments.

    Attach it to the logger that writes the request line, for example
    `logging.getLogger("uvicorn.access").addFilter(SecretFilter())`, or to a handler to cover
    every logger that propagates to it. It never drops a record.

    Args:
        secrets: literal secrets to mask wherever they appear (e.g. `client.callback_secret`).
        paths: callback paths whose next segment is a secret (`callback_url(...,
            secret_in_path=True)`); default `/astria/callback`.
    """

    def __init__(self, *secrets: str, paths: Iterable[str] = (DEFAULT_PATH,)) -> None:
        super().__init__()
        if any(not s for s in secrets):
            raise ValueError("an empty secret cannot be masked")
        self._secrets = tuple(secrets)
        self._paths = _path_pattern(paths)

    def __repr__(self) -> str:
        return f"SecretFilter(<{len(self._secrets)} secrets>)"  # never the secrets

    def redact(self, value: Any) -> Any:
        """`value` with secrets masked; numbers and values without secrets are left as they are."""
        if value is None or isinstance(value, (int, float)):
            return value
        text = value if isinstance(value, str) else str(value)
        masked = redact(text, paths=self._paths, secrets=self._secrets)
        return value if masked == text else masked

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record's message and arguments in place; always keep the record."""
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: self.redact(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self.redact(v) for v in record.args)
        return True
