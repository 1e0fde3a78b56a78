"""The only module that calls aiohttp to make a request: send, map errors, log, retry.

Every request of the library goes through `Transport._open`: API calls through
`request` (with the API headers, the concurrency limiter and the retry policy), image and
video downloads through `stream` (no API headers: the key never reaches an image host).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _json, _retry
from ._aio import Limiter, Sleep
from ._config import DOWNLOAD_CONNECT_TIMEOUT, Settings
from ._forms import Body
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    GatewayTimeoutError,
    RateLimitError,
    error_class,
)

logger = logging.getLogger("astria_async")

# Image hosts get their own timeouts: no total (a 4K image or an mp4 may take a while). A
# stalled transfer is the caller's to notice (downloads: `Watchdog`, one timer for all): a
# `sock_read` timeout here would move a timer on every socket read (~150 µs of CPU a 1 MB file).
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=DOWNLOAD_CONNECT_TIMEOUT)
RateLimitHook = Callable[[RateLimitError], object]
_CONTENT_ENCODING, _TRANSFER_ENCODING = hdrs.CONTENT_ENCODING, hdrs.TRANSFER_ENCODING


def frozen_headers(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
    """`headers` as aiohttp takes them without a copy per request: a read-only CIMultiDict."""
    return CIMultiDictProxy(CIMultiDict(headers))


class Reply:
    """One successful answer: status, headers and the decoded JSON (None for an empty body)."""

    __slots__ = ("data", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], data: Any) -> None:
        self.status = status
        self.headers = headers
        self.data = data


def error_message(body: Any, fallback: str) -> str:
    """The server's message from any body shape Astria uses (API notes §13)."""
    if isinstance(body, Mapping):
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if value:
                return error_message(value, fallback)
        errors = body.get("errors")
        if isinstance(errors, (list, Mapping)) and errors:
            return error_message(errors, fallback)
        # Rails field map: {"cfg_scale": ["must be less than 5"], "base": ["..."]}.
        parts = []
        for field, msgs in body.items():
            if field == "status":
                continue
            texts = msgs if isinstance(msgs, list) else [msgs]
            for text in texts:
                parts.append(str(text) if field == "base" else f"{field} {text}")
        if parts:
            return "; ".join(parts)
    if isinstance(body, list) and body:
        return "; ".join(error_message(item, str(item)) for item in body)
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return fallback


def _decode(raw: bytes) -> Any:
    return None if not raw or raw.isspace() else _json.loads(raw)


async def read_capped(response: aiohttp.ClientResponse, limit: int, method: str, path: str
                      ) -> bytes:
    """The body of `response` to `method path`, or `APIResponseValidationError` once it
    passes `limit` bytes.

    A declared Content-Length over the limit fails before reading anything; a declared length
    within it is read in one call, the parser stopping at that length, unless a
    Content-Encoding (the decoded body may be far longer than declared) or a Transfer-Encoding
    (which overrides the length) makes the declaration say nothing of the size. Otherwise the
    body is read in chunks and reading stops at the first byte past the limit, so a hostile
    400 MB answer costs at most `limit` bytes of memory. The rest is never read (the
    connection is closed rather than reused).
    """
    declared = response.content_length
    if declared is not None:
        if declared > limit:
            raise _too_large(f"{method} {path}", limit, f"declared {declared} bytes")
        headers = response.headers
        if _CONTENT_ENCODING not in headers and _TRANSFER_ENCODING not in headers:
            return await response.read()
    chunks = bytearray()
    async for chunk in response.content.iter_any():
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large(f"{method} {path}", limit, "more")
    return bytes(chunks)


# What aiohttp raises while sending or reading; `transport_error` maps each to our errors.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def transport_error(exc: BaseException, method: str, what: str, origin: str,
                    timeout: aiohttp.ClientTimeout) -> APIConnectionError:
    """`APIConnectionError` / `APITimeoutError` for a transport failure, in one place;
    `sent=False` only when the connection failed before anything left this machine."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(f"could not connect to {origin}: {exc}", method=method,
                                  path=what, sent=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"timed out connecting to {origin}", method=method, path=what,
                               sent=False)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        limit = f" after {timeout.total:g} s" if timeout.total else ""
        return APITimeoutError(f"{method} {what} timed out{limit}; the server may still have "
                               "processed it", method=method, path=what)
    return APIConnectionError(f"{method} {what} failed after sending: "
                              f"{type(exc).__name__}: {exc}", method=method, path=what)


def _too_large(what: str, limit: int, seen: str) -> APIResponseValidationError:
    return APIResponseValidationError(
        f"{what} answered with a body over max_response_bytes ({limit} bytes; {seen}); "
        "it was not read. Raise AstriaClient(max_response_bytes=...) if this answer is "
        "expected to be that large.")


class Stream:
    """`Transport.stream`'s context manager: aiohttp's, with transport failures mapped.

    A class rather than `contextlib.asynccontextmanager`: entering and leaving a generator
    costs ~1.5 µs more, on every download (issue #16).
    """

    __slots__ = ("_request", "_target", "_url")

    def __init__(self, request: Any, url: str, target: URL) -> None:
        self._request = request
        self._url = url
        self._target = target

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            response: aiohttp.ClientResponse = await self._request.__aenter__()
        except TRANSPORT_ERRORS as exc:
            raise self._error(exc) from exc
        return response

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> None:
        try:
            await self._request.__aexit__(exc_type, exc, tb)
        except TRANSPORT_ERRORS as error:
            raise self._error(error) from error
        if isinstance(exc, TRANSPORT_ERRORS):  # raised while the caller read the body
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> APIConnectionError:
        return transport_error(exc, "GET", self._url, str(self._target.origin()),
                               _STREAM_TIMEOUT)


class Transport:
    """Owns (or borrows) the aiohttp session and runs every request through the retry policy.

    Args:
        settings: the resolved client settings.
        session: an aiohttp session to use instead of one of our own (never closed here).
        sleep: the sleep between retries (a test's fake sleep).
        on_rate_limit: told about every 429, whoever sent the request, so that waits pause.
    """

    def __init__(self, settings: Settings, session: aiohttp.ClientSession | None = None, *,
                 sleep: Sleep = asyncio.sleep, on_rate_limit: RateLimitHook | None = None
                 ) -> None:
        self.settings = settings
        self.sleep = sleep
        self._on_rate_limit = on_rate_limit
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0  # the thread that first used the client in `_loop`
        self._limiter: Limiter | None = None
        # Read-only multidicts, not dicts: aiohttp would copy a dict into a new CIMultiDict
        # on every request (issue #16).
        headers = settings.headers()
        self._headers = frozen_headers(headers)
        self._account_headers = frozen_headers(
            {k: v for k, v in headers.items() if k != "X-Workspace-Id"})
        self._proxies: dict[str, str | None] = {}
        self._env_proxies: dict[str, str] = {}
        self._base_proxy: str | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=settings.timeout, connect=settings.connect_timeout)
        self._upload_timeout = aiohttp.ClientTimeout(
            total=settings.upload_timeout, connect=settings.connect_timeout)

    @property
    def closed(self) -> bool:
        """True after `aclose()`."""
        return self._closed

    def session(self) -> aiohttp.ClientSession:
        """The session, created lazily inside the running loop on first use."""
        if self._closed:
            raise ClientClosedError("the AstriaClient is closed; create a new one")
        session = self._session
        # The client's loop, running in the thread that first ran it, is the running loop
        # here (a thread runs one loop at a time): known without `get_running_loop()`, which
        # costs a getpid(2) system call on every request (CPython 3.11). Not noticed: a loop
        # moved to another thread while its first thread runs a second one.
        if session is not None and self._loop is not None and self._loop.is_running() \
                and threading.get_ident() == self._thread:
            return session
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._thread = threading.get_ident()
            self._limiter = Limiter(self.settings.max_concurrency)
            # Proxy variables are read once per session: aiohttp's trust_env=True re-reads them
            # on every request, measured 5-6x slower on loopback with aiohttp 3.14.
            self._env_proxies = urllib.request.getproxies_environment()
            self._base_proxy = self.proxy_for(URL(self.settings.base_url))
        elif loop is not self._loop:
            raise ClientClosedError(
                "this AstriaClient was first used in another event loop; create one client "
                "per event loop (for example inside the function you pass to asyncio.run)")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.settings.connector_limit)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    def proxy_for(self, url: URL) -> str | None:
        """The proxy for a host from the environment snapshot, honouring NO_PROXY."""
        host = url.host or ""
        if host not in self._proxies:
            proxy = self._env_proxies.get(url.scheme)
            if proxy and urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
                    host, self._env_proxies):
                proxy = None
            self._proxies[host] = proxy or None
        return self._proxies[host]

    async def aclose(self) -> None:
        """Close the session if we created it; a borrowed session is left open."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def _open(self, session: aiohttp.ClientSession, method: str, url: str | URL, *,
              headers: Mapping[str, str], timeout: aiohttp.ClientTimeout, proxy: str | None,
              params: Any = None, body: Body | None = None) -> Any:
        """aiohttp's request context manager: the library's only aiohttp request call.

        Whoever enters it catches `TRANSPORT_ERRORS` around sending *and* reading, and maps
        them with `transport_error` (a plain try/except, not a context manager of ours: this is
        every request's path).
        """
        if body is None and params is None:  # most requests: only the arguments they use
            return session.request(method, url, headers=headers, proxy=proxy, timeout=timeout)
        return session.request(
            method, url, params=params, headers=headers, proxy=proxy, timeout=timeout,
            json=body.json if body is not None else None,
            data=body.form() if body is not None and body.multipart else None)

    def stream(self, url: str, headers: Mapping[str, str]) -> Stream:
        """GET an absolute URL outside the API (an image host): `async with` it for the response.

        No API headers (the key never leaves for another host), no retries, no total or read
        timeout (a large video may take a while; the caller watches for a stall, see
        `download.Downloader`). Transport failures, while sending or while the caller reads,
        become `APIConnectionError`/`APITimeoutError`.
        """
        target = URL(url)
        request = self._open(self.session(), "GET", target, headers=headers,
                             timeout=_STREAM_TIMEOUT, proxy=self.proxy_for(target))
        return Stream(request, url, target)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        body: Body | None = None,
        deadline: float | None = None,
        retries: int | None = None,
        raw: bool = False,
        workspace: bool = True,
    ) -> Reply:
        """Send with retries; a success is a `Reply`, everything else an `AstriaError`.

        Args:
            method: HTTP method; POST creates are re-sent only when that is safe (see RetryPolicy).
            path: path below the base URL, e.g. ``/tunes/1``.
            params: query parameters.
            body: the JSON or multipart body.
            deadline: `time.monotonic()` value after which no retry is attempted.
            retries: retries allowed after the first attempt (default: the policy's); the
                board passes 0, its next tick being the retry.
            raw: return a non-JSON success body as text instead of raising.
            workspace: send `X-Workspace-Id`; account-wide endpoints (`/users`,
                `/workspaces`, `/cli/models`) go without it, as Astria's CLI sends them.

        Raises:
            APIStatusError: a subclass per status (NotFoundError, ValidationError, ...).
            APIConnectionError, APITimeoutError: no usable answer.
        """
        settings = self.settings
        url = settings.base_url + path
        timeout = self._upload_timeout if body is not None and body.multipart else self._timeout
        headers_out = self._headers if workspace else self._account_headers
        idempotent = settings.idempotent and method == "POST"
        attempt = 0
        while True:
            # Fails fast when closed or in another loop, before any limiter (made with it).
            session = self.session()
            limiter = self._limiter
            assert limiter is not None
            started = time.monotonic()
            retry_after: float | None = None
            status = 0
            error: Exception
            try:
                # Plain calls, not `async with`: a free slot costs a decrement (`Limiter`).
                if not limiter.try_take():
                    await limiter.take()
                try:
                    async with self._open(
                            session, method, url, params=params, headers=headers_out,
                            timeout=timeout, proxy=self._base_proxy, body=body) as response:
                        status = response.status
                        headers = response.headers
                        content = await read_capped(response, settings.max_response_bytes,
                                                    method, path)
                finally:
                    limiter.give()
            except TRANSPORT_ERRORS as exc:
                failure = transport_error(exc, method, path, settings.base_url, timeout)
                failure.__cause__ = exc
                outcome, error = _retry.classify_error(failure), failure
            else:
                if status < 400:
                    self._log(method, path, status, started, attempt)
                    return self._success(method, path, status, headers, content, raw)
                outcome = _retry.classify_status(status)
                error = self._status_error(method, path, status, headers, content)
                if isinstance(error, RateLimitError):
                    retry_after = error.retry_after
                    if self._on_rate_limit is not None:
                        self._on_rate_limit(error)
            self._log(method, path, status or type(error).__name__, started, attempt)
            delay = _retry.next_delay(
                method, outcome, attempt, settings.retry, idempotent=idempotent,
                retry_after=retry_after, replayable=body is None or body.replayable,
                remaining=None if deadline is None else deadline - time.monotonic(),
                max_retries=retries)
            if delay is None:
                raise error
            logger.debug("retrying %s %s in %.2f s (%s)", method, path, delay, outcome.value)
            await self.sleep(delay)
            attempt += 1

    def _success(self, method: str, path: str, status: int, headers: CIMultiDictProxy[str],
                 content: bytes, raw: bool) -> Reply:
        try:
            data = _decode(content)
        except APIResponseValidationError as exc:
            if raw:
                return Reply(status, headers, content.decode("utf-8", "replace"))
            raise APIResponseValidationError(
                f"{method} {path} answered {status}: {exc}", body=exc.body) from None
        return Reply(status, headers, data)

    def _status_error(self, method: str, path: str, status: int,
                      headers: CIMultiDictProxy[str], content: bytes) -> APIStatusError:
        try:
            body: Any = _decode(content)
        except APIResponseValidationError:
            body = content.decode("utf-8", "replace")
        message = error_message(body, f"HTTP {status}")
        cls = error_class(status)
        kw: dict[str, Any] = {"status": status, "body": body, "headers": headers,
                              "method": method, "path": path}
        if cls is RateLimitError:
            kw["retry_after"] = _retry.parse_retry_after(headers.get("Retry-After"))
        elif cls is AuthenticationError:
            # Two variables holding different keys is the usual cause (API notes §1.4).
            kw["note"] = self.settings.key_note
        elif cls is GatewayTimeoutError and method == "POST" and not self.settings.idempotent:
            # API notes §13: "probably processed"; say why it was not re-sent and what would.
            message += (" -- the create may have been processed; it was not re-sent. Enable "
                        "idempotency in your Astria API settings and pass "
                        "AstriaClient(idempotent=True) to have it retried safely.")
        return cls(message, **kw)

    @staticmethod
    def _log(method: str, path: str, status: int | str, started: float, attempt: int) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s %s -> %s in %.1f ms (attempt %d)", method, path, status,
                        (time.monotonic() - started) * 1000, attempt + 1)


