"""`AstriaClient`, the composition root: settings → transport → boards, fair use, downloads →
services → resources. No module of the package below this one imports it."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import aiohttp

from ._aio import Clock, Sleep, run_all
from ._config import (
    BOARD_SHARE,
    DEFAULT_CONNECTOR_LIMIT,
    DEFAULT_DOWNLOAD_CONCURRENCY,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RESPONSE_BYTES,
    DOWNLOAD_MAX_BYTES,
    PROMPT_IMAGELESS_GRACE,
    resolve,
)
from ._convert import structure
from ._forms import Body
from ._http import Reply, Transport
from ._retry import RetryPolicy
from .callbacks import callback_url
from .coordination import connect, namespace_for
from .download import Downloader
from .models import Prompt, Tune, imageless_failure
from .resources import (
    ApiSource,
    Gallery,
    Images,
    Packs,
    Prompts,
    Services,
    Tunes,
    Users,
    Workspaces,
)
from .resources._base import ident
from .waiting.board import Board
from .waiting.fairuse import DEFAULT_FAIR_USE, FairUse, FairUsePolicy
from .waiting.paging import Source
from .waiting.pause import LocalPause, Pause
from .waiting.policy import PROMPT_WAIT, TUNE_WAIT, WaitPolicy

if TYPE_CHECKING:
    from .answers import ModelCatalog
    from .coordination._redis import RedisCoordination


def _trained(tune: Tune) -> bool:
    return tune.is_trained


def _finished(prompt: Prompt) -> bool:
    return prompt.is_finished


class AstriaClient:
    """Async client for the Astria API; use one per application, inside `async with`.

    Args:
        api_key: Bearer key; defaults to `ASTRIA_AUTH_TOKEN`, then `ASTRIA_API_KEY`, then the
            `api_key` of Astria's official CLI config (`~/.astria/config.json`, see `profile`).
        base_url: defaults to `ASTRIA_BASE_URL`, then the CLI config's (when the key came from
            it), then https://api.astria.ai.
        workspace_id: sent as `X-Workspace-Id` on every request ("all" lists across
            workspaces); defaults to `WORKSPACE_ID`, then `ASTRIA_WORKSPACE_ID`, then the CLI
            config's (when the key came from it).
        profile: the official CLI profile whose config is read when no key is given or in the
            environment: `config.PROFILE.json` in `$ASTRIA_CONFIG_DIR` (default `~/.astria`);
            default `$ASTRIA_PROFILE`, then `config.json`.
        session: an aiohttp session to use; it is never closed by this client.
        timeout: seconds for one request (default 60; multipart uploads get at least 300).
        retry: the `RetryPolicy` (see its docstring for what is retried).
        max_concurrency: requests in flight at once through this client, waits included.
        connector_limit: size of the connection pool of the session this client creates.
        idempotent: declare that idempotency is on in your Astria account, so creates may be
            re-sent after a 5xx, a timeout or a 504 (API notes §14).
        max_response_bytes: the largest answer body read (default 8 MiB, far above
            Astria's largest answers); a larger one raises `APIResponseValidationError`
            without being read into memory.
        wait: the `WaitPolicy` of every wait (tunes and prompts); `tune_wait` / `prompt_wait`
            override one kind. Defaults: `WaitPolicy.for_tunes()` / `WaitPolicy.for_prompts()`.
        fair_use: the `FairUsePolicy` checked before each prompt is sent; `None` turns the
            guard off.
        callback_secret: the secret `callback_url()` adds and `CallbackReceiver` checks;
            default: a random one per client (give one when callbacks may reach another
            process or outlive this client).
        download_concurrency: image downloads at once through this client.
        download_max_bytes: the largest file a download writes (default 256 MiB); a bigger
            one is a `DownloadError` and leaves no file.
        durable_downloads: also fsync each downloaded file and its directory, so that it
            survives a power loss or a kernel crash. Off by default: files are written to a
            temporary name and renamed when complete, so a file with its final name is whole
            even if the process dies; only the disk flush is skipped.
        coordination: a Redis URL (`redis://host:6379/0`) shared by every worker process on
            the account: one fair-use ledger, one 429 pause, callbacks fanned out to all
            (needs the `redis` extra); default `ASTRIA_REDIS_URL`, "" for none.
        namespace: the name the workers of one account share in that Redis (default: a hash
            of the API key, so two accounts never share a ledger).
        clock: the monotonic clock of waits and retries (for tests).
        sleep: the sleep of waits and retries (for tests).

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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        wait: WaitPolicy | None = None,
        tune_wait: WaitPolicy | None = None,
        prompt_wait: WaitPolicy | None = None,
        fair_use: FairUsePolicy | None = DEFAULT_FAIR_USE,
        callback_secret: str | None = None,
        download_concurrency: int = DEFAULT_DOWNLOAD_CONCURRENCY,
        durable_downloads: bool = False,
        coordination: str | None = None,
        namespace: str | None = None,
        download_max_bytes: int = DOWNLOAD_MAX_BYTES,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        profile: str | None = None,
    ) -> None:
        self._settings = resolve(
            api_key=api_key, base_url=base_url, workspace_id=workspace_id, timeout=timeout,
            retry=retry, max_concurrency=max_concurrency, connector_limit=connector_limit,
            idempotent=idempotent, max_response_bytes=max_response_bytes, profile=profile,
        )
        if callback_secret is not None and not callback_secret:
            raise ValueError("callback_secret must not be empty")
        self._callback_secret = callback_secret or secrets.token_urlsafe(32)
        now = clock or time.monotonic
        # A 429 logs at WARNING only while some wait is paused by it (resolved at call time:
        # the boards are built below).
        pause_options: dict[str, Any] = {
            "cap": self._settings.retry.retry_after_cap,
            "busy": lambda: bool(self._tune_board.watched or self._prompt_board.watched)}
        url = os.environ.get("ASTRIA_REDIS_URL", "") if coordination is None else coordination
        self._coordination = None
        pause: Pause = LocalPause(now, **pause_options)
        if url:
            self._coordination = connect(
                url, namespace=namespace or namespace_for(self._settings.api_key), clock=now,
                **pause_options)
            self._coordination.on_feed = self._feed_shared
            pause = self._coordination.pause
        self._transport = Transport(self._settings, session, sleep=sleep or asyncio.sleep,
                                    on_rate_limit=pause.rate_limited)
        sleep = self._transport.sleep
        self._tune_wait = tune_wait or wait or TUNE_WAIT
        self._prompt_wait = prompt_wait or wait or PROMPT_WAIT
        share = max(1, max_concurrency // BOARD_SHARE)
        tunes: Source[Tune] = ApiSource(self._transport, Tune, self)
        prompts: Source[Prompt] = ApiSource(self._transport, Prompt, self)
        if self._coordination is not None:  # the leader's polls are published to the others
            tunes = self._coordination.leadership.source("tune", tunes)
            prompts = self._coordination.leadership.source("prompt", prompts)
        self._tune_board: Board[Tune] = Board(
            "tune", tunes, done=_trained, clock=now, sleep=sleep, concurrency=share,
            pause=pause, first_look=Tune.first_look)
        self._prompt_board: Board[Prompt] = Board(
            "prompt", prompts, done=_finished, clock=now, sleep=sleep, concurrency=share,
            pause=pause, settle=imageless_failure, grace=PROMPT_IMAGELESS_GRACE)
        if self._coordination is not None:
            self._coordination.leadership.attach(self._tune_board, self._tune_wait)
            self._coordination.leadership.attach(self._prompt_board, self._prompt_wait)
        self._fair_use = FairUse(
            fair_use, self._prompt_board, wait=self._prompt_wait, count_prompts=self._charged_to,
            ledger=None if self._coordination is None else self._coordination.ledger)
        self._prompt_board.listeners.append(self._fair_use.finished)
        self._downloader = Downloader(self._transport, download_concurrency,
                                      durable=durable_downloads, max_bytes=download_max_bytes)
        services = Services(
            transport=self._transport, tune_board=self._tune_board,
            prompt_board=self._prompt_board, tune_wait=self._tune_wait,
            prompt_wait=self._prompt_wait, fair_use=self._fair_use,
            downloader=self._downloader, binding=self)
        self._services = services
        self.tunes = Tunes(services)
        self.prompts = Prompts(services)
        self.packs = Packs(services)
        self.users = Users(services)
        self.workspaces = Workspaces(services)
        self.images = Images(services)
        self.gallery = Gallery(services)

    async def models(self, *, refresh: bool = False, offline_ok: bool = False) -> ModelCatalog:
        """The model catalogue (`GET /cli/models`, API notes §10.6): named image models
        ("gemini", "seedream", "gpt-image-2") with their tune ids, and the video models.

        Read once per client and kept for the catalogue's `cache_ttl`; `refresh=True` reads
        it again. The same catalogue resolves model names given where a tune id goes
        (`client.prompts.create("gemini", ...)`, `tunes.create(base_tune_id="gemini")`).
        With `offline_ok=True` a catalogue that cannot be read is replaced by the official
        CLI's built-in ids (`source="builtin"`) instead of raising.
        """
        if offline_ok:
            return await self._services.catalogue.get_or_builtin(refresh=refresh)
        return await self._services.catalogue.get(refresh=refresh)

    async def _charged_to(self, tune_id: int) -> int:
        # Resolved at call time: the prompts resource is built after the fair-use guard.
        return await self.prompts.charged_to(tune_id)

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._settings.base_url

    @property
    def workspace_id(self) -> str | None:
        """The `X-Workspace-Id` sent on every request, if any."""
        return self._settings.workspace_id

    @property
    def key_source(self) -> str:
        """Where the API key came from: "the api_key argument", a variable name or a file."""
        return self._settings.key_source

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
        if self._coordination is not None:
            try:
                await self._coordination.start()
            except BaseException:  # `async with` will not call __aexit__: close here
                await self.aclose()
                raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the waits' refreshers, close the session this client created (a session
        passed in is left open); waits still running raise `ClientClosedError`."""
        self._fair_use.close()
        await self._tune_board.aclose()
        await self._prompt_board.aclose()
        if self._coordination is not None:
            await self._coordination.aclose()
        await self._transport.aclose()

    @property
    def coordination(self) -> RedisCoordination | None:
        """The Redis coordination shared with other workers (`coordination=`), or None."""
        return self._coordination

    @property
    def fair_use(self) -> FairUse:
        """The fair-use guard: `.policy`, `.count(tune_id)`, `.in_flight()`, `await .seed()`."""
        return self._fair_use

    @property
    def tune_wait(self) -> WaitPolicy:
        """The default `WaitPolicy` of tune waits."""
        return self._tune_wait

    @property
    def prompt_wait(self) -> WaitPolicy:
        """The default `WaitPolicy` of prompt waits."""
        return self._prompt_wait

    @property
    def callback_secret(self) -> str:
        """The secret `callback_url()` adds and `CallbackReceiver` checks (never in a repr)."""
        return self._callback_secret

    def feed(self, obj: Tune | Prompt | Iterable[Tune | Prompt]) -> None:
        """Hand objects from a callback (or anywhere) to the waits: theirs finish at once.

        Objects not bound to a client are bound to this one. Older states never replace newer
        ones, and a finished state is final.
        """
        items = [obj] if isinstance(obj, (Tune, Prompt)) else list(obj)
        self._feed_local(items)
        if self._coordination is not None:  # what one worker's callback learned, all learn
            for item in items:
                if item.raw:
                    self._coordination.share_feed(type(item).__name__, item.raw)

    def _feed_shared(self, kind: str, payload: Mapping[str, Any]) -> None:
        obj = structure(payload, Tune, self) if kind == "Tune" else structure(payload, Prompt, self)
        self._feed_local([obj])

    def _feed_local(self, items: Iterable[Tune | Prompt]) -> None:
        for item in items:
            if item._client is None:
                object.__setattr__(item, "_client", self)
            if isinstance(item, Tune):
                self._services.seen(item)
                self._tune_board.feed(item)
                self._feed_local(item.prompts)
            elif isinstance(item, Prompt):
                self._prompt_board.feed(item)
            else:
                raise TypeError(f"feed() takes Tune and Prompt objects, got {type(item).__name__}")

    def callback_url(self, base: str, *, secret_in_path: bool = False,
                     **context: str | int) -> str:
        """`base` with `context` in the query string and this client's secret.

        Pass the result as `callback=` on a create, and serve `base` with a
        `CallbackReceiver(client)`; Astria sends the object there when it is done. The
        secret goes in the `astria_secret` query parameter, or with `secret_in_path=True`
        as a last path segment (for servers and tracers that record query strings).
        """
        return callback_url(base, self._callback_secret, secret_in_path=secret_in_path,
                            **context)

    def as_completed(self, prompts: Iterable[Prompt | int], *, timeout: float | None = None,
                     policy: WaitPolicy | None = None) -> AsyncIterator[Prompt]:
        """Yield each prompt as it finishes, failed ones too (check `.is_failed`).

        All of them cost one board refresh per tick, not one request each.

        Args:
            prompts: prompts or prompt ids.
            timeout: overall deadline in seconds (default: the prompt policy's).
            policy: the `WaitPolicy` (default: the client's prompt policy).

        Raises:
            WaitTimeoutError: the deadline passed with prompts unfinished (`object_id` is one
                of them).
        """
        ids: list[int] = []
        for item in prompts:
            ids.append(ident(item, "prompts"))
            if isinstance(item, Prompt):
                self._prompt_board.feed(item)
        wait = self._services.wait_policy("prompt", policy, timeout)
        return self._prompt_board.as_completed(ids, wait)

    @overload
    async def wait_all(self, items: Iterable[Tune | Prompt | int], *,
                       timeout: float | None = None, return_exceptions: Literal[False] = False,
                       on_update: Callable[[Tune | Prompt], None] | None = None,
                       ) -> list[Tune | Prompt]: ...

    @overload
    async def wait_all(self, items: Iterable[Tune | Prompt | int], *,
                       timeout: float | None = None, return_exceptions: Literal[True],
                       on_update: Callable[[Tune | Prompt], None] | None = None,
                       ) -> list[Tune | Prompt | BaseException]: ...

    async def wait_all(self, items: Iterable[Tune | Prompt | int], *,
                       timeout: float | None = None, return_exceptions: bool = False,
                       on_update: Callable[[Tune | Prompt], None] | None = None,
                       ) -> list[Tune | Prompt] | list[Tune | Prompt | BaseException]:
        """Wait for tunes to train and prompts to finish; results in input order.

        Args:
            items: `Tune` and `Prompt` objects; a bare int is a prompt id.
            timeout: overall deadline in seconds for each (default: each kind's policy).
            return_exceptions: put `PromptFailedError` / `WaitTimeoutError` in the list instead
                of raising the first one.
            on_update: called with every new state of every item.

        Raises:
            PromptFailedError: a prompt failed (unless `return_exceptions`); the others are
                cancelled.
            WaitTimeoutError: the deadline passed (unless `return_exceptions`).
        """
        entries = list(items)
        for item in entries:  # all checked before any wait starts
            ident(item, "items")
        waits: list[Awaitable[Tune | Prompt]] = [
            self.tunes.wait_trained(item, timeout=timeout, on_update=on_update)
            if isinstance(item, Tune) else
            self.prompts.wait_images(item, timeout=timeout, on_update=on_update)
            for item in entries]
        if return_exceptions:
            return list(await asyncio.gather(*waits, return_exceptions=True))
        return await run_all(waits)

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

