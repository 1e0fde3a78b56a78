"""`AstriaClient`: configuration, session ownership and the resource namespaces."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from ._config import DEFAULT_CONNECTOR_LIMIT, DEFAULT_MAX_CONCURRENCY, resolve
from ._forms import Body
from ._http import Reply, Transport
from ._retry import RetryPolicy
from .resources import Packs, Prompts, Tunes


class AstriaClient:
    """Async client for the Astria API; use one per application, inside `async with`.

    Args:
        api_key: Bearer key; defaults to `ASTRIA_AUTH_TOKEN`, then `ASTRIA_API_KEY`.
        base_url: defaults to `ASTRIA_BASE_URL`, then https://api.astria.ai.
        workspace_id: sent as `X-Workspace-Id` on every request ("all" lists across
            workspaces); defaults to `WORKSPACE_ID`, then `ASTRIA_WORKSPACE_ID`.
        session: an aiohttp session to use; it is never closed by this client.
        timeout: seconds for one request (default 60; multipart uploads get at least 300).
        retry: the `RetryPolicy` (see its docstring for what is retried).
        max_concurrency: requests in flight at once through this client, waits included.
        connector_limit: size of the connection pool of the session this client creates.
        idempotent: declare that idempotency is on in your Astria account, so creates may be
            re-sent after a 5xx, a timeout or a 504 (astria-api §14).

    Raises:
        ConfigurationError: no API key, or a malformed setting.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        workspace_id: str | int | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        connector_limit: int = DEFAULT_CONNECTOR_LIMIT,
        idempotent: bool = False,
    ) -> None:
        self._settings = resolve(
            api_key=api_key, base_url=base_url, workspace_id=workspace_id, timeout=timeout,
            retry=retry, max_concurrency=max_concurrency, connector_limit=connector_limit,
            idempotent=idempotent,
        )
        self._transport = Transport(self._settings, session)
        self.tunes = Tunes(self)
        self.prompts = Prompts(self)
        self.packs = Packs(self)

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._settings.base_url

    @property
    def workspace_id(self) -> str | None:
        """The `X-Workspace-Id` sent on every request, if any."""
        return self._settings.workspace_id

    @property
    def idempotent(self) -> bool:
        """Whether creates may be re-sent (account idempotency declared on)."""
        return self._settings.idempotent

    @property
    def closed(self) -> bool:
        """True after `aclose()`."""
        return self._transport.closed

    def __repr__(self) -> str:
        return (f"AstriaClient(base_url={self.base_url!r}, workspace_id={self.workspace_id!r}, "
                f"closed={self.closed})")

    async def __aenter__(self) -> AstriaClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session this client created (a session passed in is left open)."""
        await self._transport.aclose()

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, Any] | None = None,
        root: str | None = None,
    ) -> Reply:
        """Any endpoint, for what this library does not wrap yet: status, headers and JSON.

        `json_body` is sent as is; `form` is wrapped under `root` (e.g. "prompt") as Rails
        expects, multipart when it holds files.
        """
        if not path.startswith("/"):
            path = "/" + path
        body = None
        if json_body is not None:
            body = Body(None, json_body)
        elif form is not None:
            body = Body(root, form)
        return await self._transport.request(method.upper(), path, params=params, body=body,
                                             raw=True)

