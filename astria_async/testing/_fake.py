"""FakeAstria: the fake API server, its clock-driven callbacks and the test-facing controls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from ._account import add_workspace
from ._callbacks import CallbackRecord, Sender
from ._clock import FakeClock
from ._control import Control
from ._faults import Fault, Faults, RequestRecord, count
from ._prompts import create_prompt
from ._render import prompt_json, tune_json
from ._server import Dispatcher
from ._store import Config, FailRule, Store, default_fail_rule
from ._tunes import create_tune, run_on_tune
from ._wire import Ctx

logger = logging.getLogger("astria_async.testing")


class FakeAstria:
    """An in-process Astria API on 127.0.0.1 with controllable time and injectable faults.

    State is derived from :class:`FakeClock` on every read: a tune is trained
    ``train_seconds`` after creation (``fast_train_seconds`` on ``branch=fast``,
    at once for FaceID/Gemini references) and a prompt finishes ``prompt_seconds``
    after the tunes it needs are trained.  Callbacks are scheduled for those
    moments: a background task fires them while the clock runs, and
    :meth:`advance` fires (and awaits) the ones a jump makes due.

    Observation: :attr:`requests` lists every request answered, oldest first, as
    :class:`RequestRecord` (method, path, query, status, workspace, fault, time);
    :meth:`count` matches them by pattern and ``GET /_fake/requests`` serves them
    to tests in other languages, which arm faults with ``POST /_fake/faults``.

    Workspaces: every object belongs to the workspace it was created in; lists
    show the request's ``X-Workspace-Id`` scope only (``all`` = every scope).
    Workspaces exist once created (``POST /workspaces.json``, :meth:`add_workspace`
    or the ``workspaces`` argument); any other id in the header answers 404.
    Reads, updates and deletes by id are *not* scoped — ids are account-wide, as
    the CLI's ``GET /prompts/:id`` polling from any workspace relies on.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        port: int = 0,
        clock: FakeClock | None = None,
        train_seconds: float = 20.0,
        fast_train_seconds: float = 2.0,
        prompt_seconds: float = 4.0,
        image_bytes: int = 8192,
        idempotent: bool = False,
        fail_rule: FailRule = default_fail_rule,
        callback_timeout: float = 10.0,
        workspaces: Iterable[int] = (),
        request_log: str | Path | None = None,
    ) -> None:
        """Configure; nothing listens until :meth:`start` (or ``async with``).

        ``workspaces``: ids of workspaces that exist from the start (an unknown
        ``X-Workspace-Id`` answers 404, as on Astria).  ``request_log``: a file
        that gets each :class:`RequestRecord` as one JSON line (appended, flushed).
        """
        self.api_key = api_key or f"sd_fake_{secrets.token_hex(16)}"
        self.clock = clock if clock is not None else FakeClock()
        self.config = Config(train_seconds=train_seconds, fast_train_seconds=fast_train_seconds,
                             prompt_seconds=prompt_seconds, image_bytes=image_bytes,
                             idempotent=idempotent, fail_rule=fail_rule)
        self.store = Store(self.config, self.clock)
        for workspace_id in workspaces:
            self.add_workspace(workspace_id=workspace_id)
        self.faults = Faults()
        # Every request answered, oldest first (see RequestRecord; control calls excluded).
        self.requests: list[RequestRecord] = []
        self.callbacks: list[CallbackRecord] = []
        self._port = port
        self._sender = Sender(callback_timeout)
        control = Control(self.faults, self.requests, {
            "fail": self.fail, "reset": self.reset, "slow": self.slow,
            "malformed": self.malformed})
        self._dispatcher = Dispatcher(self.store, self.faults, self.requests, self.api_key,
                                      self._kick, control)
        self._log_path = None if request_log is None else Path(request_log)
        self._log_file: TextIO | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._wake: asyncio.Event | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    # ---- lifecycle ----

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (use as ASTRIA_BASE_URL)."""
        if not self.store.base_url:
            raise RuntimeError("FakeAstria is not started")
        return self.store.base_url

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the fake's handlers (each answered 500)."""
        return self._dispatcher.errors

    async def start(self) -> FakeAstria:
        """Listen on 127.0.0.1 only (port 0 = ephemeral)."""
        if self._log_path is not None:
            self._log_file = self._log_path.open("a", encoding="utf-8")
            self._dispatcher.on_record = self._write_record
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatcher.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.store.base_url = f"http://127.0.0.1:{port}"
        self._wake = asyncio.Event()
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def close(self) -> None:
        """Stop callbacks, wait for deliveries in flight, stop listening."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self._sender.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _write_record(self, record: RequestRecord) -> None:
        if self._log_file is not None:
            self._log_file.write(json.dumps(record.to_dict()) + "\n")
            self._log_file.flush()

    async def __aenter__(self) -> FakeAstria:
        """Start."""
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        """Close."""
        await self.close()

    # ---- time and callbacks ----

    async def advance(self, seconds: float) -> list[CallbackRecord]:
        """Move the clock ahead and deliver the callbacks that became due; returns them."""
        self.clock.advance(seconds)
        self._kick()
        return await self.flush_callbacks()

    async def flush_callbacks(self) -> list[CallbackRecord]:
        """Deliver every due callback and wait for all deliveries in flight."""
        before = len(self.callbacks)
        due = self.store.take_due(self.clock.now())
        if due:
            task = asyncio.create_task(self._deliver(due))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        if self._deliveries:
            await asyncio.gather(*list(self._deliveries))
        return self.callbacks[before:]

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _tick(self) -> None:
        """Fire callbacks when their time comes; sleeps until the next one or a change."""
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await self.flush_callbacks()
            except Exception:  # keep ticking; a broken receiver must not stop the fake
                logger.exception("FakeAstria callback delivery failed")
            due = self.store.next_due()
            delay = None if due is None else self.clock.real_delay(due - self.clock.now())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _deliver(self, due: list[tuple[str, int, str]]) -> None:
        # One after another, so receivers see a tune's callback before its prompts'.
        for kind, obj_id, url in due:
            try:
                body = self._payload(kind, obj_id)
            except KeyError:  # deleted while earlier callbacks were being delivered
                continue
            status, error = await self._sender.post(url, body)
            self.callbacks.append(CallbackRecord(url, kind, obj_id, body, status, error,
                                                 self.clock.now()))

    def _payload(self, kind: str, obj_id: int) -> Any:
        # Wrapped under the resource name, as every real receiver sees it (API notes §12);
        # prompts_callback gets a bare array of prompt objects (API notes §8.3).
        now = self.clock.now()
        if kind == "tune":
            return {"tune": tune_json(self.store, self.store.tunes[obj_id], now)}
        if kind == "prompt":
            return {"prompt": prompt_json(self.store, self.store.prompts[obj_id], now)}
        ids = self.store.groups[obj_id].prompt_ids
        return [prompt_json(self.store, self.store.prompts[i], now)
                for i in ids if i in self.store.prompts]

    # ---- fault injection ----

    def fail(self, path_prefix: str, status: int = 500, count: int | None = 1, *,
             retry_after: float | str | None = None, after_commit: bool = False,
             method: str | None = None, body: Any = None) -> Fault:
        """Answer ``status`` (JSON ``{"error": phrase}`` unless ``body``) to matching requests.

        ``after_commit=True`` performs the request first (a 504 after processing, API notes §13).
        """
        return self.faults.add(Fault("fail", path_prefix, count, method, status=status,
                                     retry_after=retry_after, after_commit=after_commit,
                                     body=body))

    def reset(self, path_prefix: str, count: int | None = 1, *, after_commit: bool = False,
              method: str | None = None) -> Fault:
        """Drop the connection without an answer (optionally after doing the work)."""
        return self.faults.add(Fault("reset", path_prefix, count, method,
                                     after_commit=after_commit))

    def slow(self, path_prefix: str, seconds: float, count: int | None = 1, *,
             method: str | None = None, after_commit: bool = False) -> Fault:
        """Delay matching requests by ``seconds`` of real time.

        By default the request waits before it is served, so a client that times
        out leaves nothing behind.  ``after_commit=True`` serves it at once (the
        create is stored, the request logged) and holds the answer instead: a
        client timeout then is the "timed out after the server committed" case
        that must never be re-sent blindly (API notes §13, 504).
        """
        return self.faults.add(Fault("slow", path_prefix, count, method, seconds=seconds,
                                     after_commit=after_commit))

    def malformed(self, path_prefix: str, count: int | None = 1, *, after_commit: bool = False,
                  method: str | None = None, body: str | None = None) -> Fault:
        """Answer 200 with a non-JSON (HTML) body."""
        return self.faults.add(Fault("malformed", path_prefix, count, method,
                                     after_commit=after_commit, body=body))

    def clear_faults(self) -> None:
        """Disarm all faults."""
        self.faults.clear()

    def session(self, *, workspace: str | None = None, api_key: str | None = None,
                **kwargs: Any) -> aiohttp.ClientSession:
        """A raw aiohttp session on the fake with the Bearer key (and workspace) set."""
        headers = {"Authorization": f"Bearer {api_key or self.api_key}"}
        if workspace is not None:
            headers["X-Workspace-Id"] = workspace
        return aiohttp.ClientSession(base_url=self.url, headers=headers, trust_env=False, **kwargs)

    async def call(self, method: str, path: str, *, workspace: str | None = None,
                   api_key: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        """Send one authorised request; returns (status, parsed JSON or raw bytes)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(base_url=self.url, trust_env=False)
        headers = {"Authorization": f"Bearer {api_key or self.api_key}",
                   **kwargs.pop("headers", {})}
        if workspace is not None:
            headers["X-Workspace-Id"] = workspace
        async with self._session.request(method, path, headers=headers, **kwargs) as response:
            raw = await response.read()
            if raw and response.content_type == "application/json":
                return response.status, json.loads(raw)
            return response.status, raw

    # ---- observation ----

    def count(self, method: str, path_pattern: str) -> int:
        """Requests by method (``*`` = any) whose path (sans ``.json``) fnmatches the pattern."""
        return count(self.requests, method, path_pattern)

    def clear_log(self) -> None:
        """Forget logged requests and callbacks."""
        self.requests.clear()
        self.callbacks.clear()

    @property
    def tunes(self) -> dict[int, dict[str, Any]]:
        """The user's tunes as the API would show them now (gallery excluded)."""
        now = self.clock.now()
        return {t.id: tune_json(self.store, t, now) for t in self.store.tunes.values()
                if not t.gallery}

    @property
    def prompts(self) -> dict[int, dict[str, Any]]:
        """All prompts as the API would show them now."""
        now = self.clock.now()
        return {p.id: prompt_json(self.store, p, now) for p in self.store.prompts.values()}

    def tune(self, tune_id: int) -> dict[str, Any]:
        """One tune (gallery included) as JSON; KeyError if missing."""
        return tune_json(self.store, self.store.tunes[tune_id], self.clock.now())

    def prompt(self, prompt_id: int) -> dict[str, Any]:
        """One prompt as JSON; KeyError if missing."""
        return prompt_json(self.store, self.store.prompts[prompt_id], self.clock.now())

    # ---- seeding ----

    def _ctx(self, workspace: str | None) -> Ctx:
        if workspace not in (None, "all") and str(workspace) not in self.store.workspaces:
            # Seeding into a workspace creates it (a header never does; see the class doc).
            self.add_workspace(workspace_id=int(str(workspace)))
        return Ctx(self.store, "SEED", "", (), now=self.clock.now(), workspace=workspace)

    def add_workspace(self, title: str | None = None, *,
                      workspace_id: int | None = None) -> dict[str, Any]:
        """Create a workspace without HTTP (``workspace_id`` picks its id); returns its JSON."""
        title = title or f"Workspace {workspace_id or len(self.store.workspaces) + 1}"
        return add_workspace(self.store, self.clock.now(), title, workspace_id)

    def add_tune(self, *, title: str | None = None, name: str = "man", branch: str = "flux1",
                 trained: bool = True, workspace: str | None = None,
                 **attrs: Any) -> dict[str, Any]:
        """Create a tune without HTTP (trained at once by default); returns its JSON."""
        raw = {"title": title or f"seeded-{secrets.token_hex(4)}", "name": name,
               "branch": branch, **attrs}
        tune, _ = create_tune(self._ctx(workspace), raw, need_images=False,
                              train_seconds=0.0 if trained else None)
        if not tune.orig_images:
            tune.orig_images.append(self.store.add_blob(None, "image/png", tune.id))
        self._kick()
        return self.tune(tune.id)

    def add_prompt(self, tune_id: int, text: str = "a photo", *, workspace: str | None = None,
                   **attrs: Any) -> dict[str, Any]:
        """Create a prompt for ``tune_id`` without HTTP; returns its JSON.

        Routed like a ``prompts_attributes`` entry: a LoRA/FaceID tune's prompt runs
        on its base model with the ``<lora:id:1>``/``<faceid:id:1>`` token prepended.
        Validation is the same as POST (HttpError on a bad value).  ``workspace``
        defaults to the tune's.  ``is_api=False`` seeds a prompt made in the web app
        (left out by the ``is_api=true`` list filter).
        """
        is_api = bool(attrs.pop("is_api", True))
        tune = self.store.tunes[tune_id]
        ctx = self._ctx(workspace)
        if tune.gallery:
            prompt, _ = create_prompt(ctx, tune, {"text": text, **attrs}, workspace=workspace)
            prompt_id = prompt.id
        else:
            prompt_id = run_on_tune(ctx, tune, {"text": text, **attrs}, workspace)
        self.store.prompts[prompt_id].is_api = is_api
        self._kick()
        return self.prompt(prompt_id)
