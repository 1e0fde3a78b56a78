"""Webhook delivery (API notes §12): one POST per finished object, loopback only, no retries."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp


@dataclass(frozen=True)
class CallbackRecord:
    """One delivery attempt: ``status`` on an answer, ``error`` otherwise."""

    url: str
    kind: str
    object_id: int
    body: Any
    status: int | None
    error: str | None
    at: float


def is_loopback(url: str) -> bool:
    """True for http(s) URLs on 127.0.0.0/8, ::1 or localhost: the fake never leaves the host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class Sender:
    """Posts callback bodies with its own session."""

    def __init__(self, timeout: float) -> None:
        """Create the session lazily, inside the running loop."""
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: Any) -> tuple[int | None, str | None]:
        """POST ``body`` as JSON once; returns (status, error)."""
        if not is_loopback(url):
            return None, "refused: the fake only calls back to loopback hosts"
        if self._session is None:
            # trust_env=False: a proxy must never see loopback callbacks.
            self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=False)
        try:
            async with self._session.post(
                url, data=json.dumps(body), headers={"Content-Type": "application/json"},
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def close(self) -> None:
        """Close the session if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None
