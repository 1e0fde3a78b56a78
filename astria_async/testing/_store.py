"""In-memory records and the lazy, clock-driven state machine."""

from __future__ import annotations

import bisect
import heapq
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._clock import FakeClock
from ._seed import GALLERY_TUNES, PACKS, SEED_EPOCH, Pack

FailRule = Callable[[dict[str, Any]], str | None]

# `<lora:123:0.8>`, `<faceid:456:1>` and the generic `<model_type:ID:1>` (API notes §6).
_KIND_ORDER = {"tune": 0, "prompt": 1, "prompts": 2}
REF_RE = re.compile(r"<([a-z0-9_]+):(\d+):[^>]*>", re.IGNORECASE)


def default_fail_rule(prompt: dict[str, Any]) -> str | None:
    """Prompts whose text contains ``FAIL`` finish with a content-policy user_error."""
    if "FAIL" in str(prompt.get("text") or ""):
        return "Content policy violation: the prompt was flagged by the safety filter"
    return None


@dataclass(frozen=True)
class Config:
    """Timing, size and behaviour knobs shared by every part of the fake."""

    train_seconds: float = 20.0
    fast_train_seconds: float = 2.0
    prompt_seconds: float = 4.0
    image_bytes: int = 8192
    idempotent: bool = False
    fail_rule: FailRule = default_fail_rule
    user_id: int = 1001
    balance_mc: int = 100_000_000


@dataclass
class TuneRec:
    """A tune; state (trained or not) is derived from ``train_due`` and the clock."""

    id: int
    attrs: dict[str, Any]
    workspace: str | None
    created: float
    train_due: float | None
    orig_images: list[str] = field(default_factory=list)
    cost_mc: int = 0
    gallery: bool = False
    updated: float = 0.0
    prompt_ids: list[int] = field(default_factory=list)


@dataclass
class PromptRec:
    """A prompt; it starts once every tune in ``deps`` is trained."""

    id: int
    tune_id: int
    attrs: dict[str, Any]
    workspace: str | None
    created: float
    deps: tuple[int, ...]
    refs: tuple[int, ...]
    user_error: str | None
    images: tuple[str, ...]
    cost_mc: int
    mock: bool = False
    updated: float = 0.0
    liked: bool = False
    is_api: bool = True  # False for prompts seeded as if made in the web app


@dataclass
class Blob:
    """Stored bytes behind a `/mp/<token>` URL; ``data=None`` serves the generated PNG."""

    data: bytes | None
    content_type: str = "image/png"
    owner: int | None = None


@dataclass
class Group:
    """A pack run's prompts; its ``prompts_callback`` fires once all are done (API notes §8.3)."""

    url: str
    prompt_ids: list[int]


class Store:
    """Objects, ids, uploaded files and pending callbacks."""

    def __init__(self, config: Config, clock: FakeClock) -> None:
        """Seed the gallery and packs."""
        self.config = config
        self.clock = clock
        self.base_url = ""
        self.tunes: dict[int, TuneRec] = {}
        self.prompts: dict[int, PromptRec] = {}
        # Each tune's prompt ids, oldest first (as Astria's `tune.prompts` is indexed): a
        # tune's list reads its own prompts, not every prompt of the account.
        self._by_tune: dict[int, list[int]] = {}
        # Every prompt id, oldest first: a keyset page bisects it (a copy of the dict's keys
        # per page was O(n) a page, most of a 100,000-prompt refresh's server time).
        self._ids: list[int] = []
        self.blobs: dict[str, Blob] = {}
        self.signed_ids: dict[str, str] = {}
        self.image_owner: dict[str, int] = {}
        self.groups: dict[int, Group] = {}
        self.pending: list[tuple[float, int, int, str, int, str]] = []
        self._seq = 0
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.packs: dict[int, Pack] = {p.id: p for p in PACKS}
        self.balance_mc = config.balance_mc
        self._next = {"tune": 1_000_001, "prompt": 20_000_001, "order": 700_001, "group": 1,
                      "workspace": 9001, "pack": 300}
        for tune_id, title, branch, model_type in GALLERY_TUNES:
            attrs = {"title": title, "name": None, "branch": branch, "model_type": model_type,
                     "token": None}
            self.tunes[tune_id] = TuneRec(tune_id, attrs, None, SEED_EPOCH, SEED_EPOCH,
                                          gallery=True, updated=SEED_EPOCH)

    def next_id(self, kind: str) -> int:
        """Allocate an id, skipping seeded ones."""
        while True:
            value = self._next[kind]
            self._next[kind] += 1
            if kind != "tune" or value not in self.tunes:
                return value

    def url(self, path: str) -> str:
        """Absolute URL on the fake."""
        return f"{self.base_url}{path}"

    def add_blob(self, data: bytes | None, content_type: str, owner: int | None) -> str:
        """Store a file and return its token (URLs carry no extension, like Astria's)."""
        token = secrets.token_hex(12)
        self.blobs[token] = Blob(data, content_type, owner)
        return token

    def mint_images(self, prompt_id: int, count: int) -> tuple[str, ...]:
        """Reserve result-image tokens for a prompt."""
        tokens = tuple(secrets.token_hex(12) for _ in range(count))
        for token in tokens:
            self.image_owner[token] = prompt_id
        return tokens

    # ---- time-driven state (computed lazily on every read) ----

    def trained_at(self, tune: TuneRec) -> float | None:
        """When the tune is (or will be) trained; None means never."""
        return tune.train_due

    def prompt_start(self, prompt: PromptRec) -> float | None:
        """Processing starts once the prompt exists and its tunes are trained (API notes §5.1)."""
        start = prompt.created
        for dep in prompt.deps:
            tune = self.tunes.get(dep)
            if tune is None or tune.train_due is None:
                return None
            start = max(start, tune.train_due)
        return start

    def prompt_done(self, prompt: PromptRec) -> float | None:
        """When processing finishes (success or user_error)."""
        start = self.prompt_start(prompt)
        return None if start is None else start + self.config.prompt_seconds

    def is_done(self, prompt: PromptRec, now: float) -> bool:
        """True once the prompt has finished processing."""
        done = self.prompt_done(prompt)
        return done is not None and done <= now

    # ---- callbacks pending delivery (API notes §12) ----
    # Training and processing times are fixed when an object is created, so each
    # callback's due time is known up front and kept in a heap; entries whose
    # object was deleted are dropped when they surface.

    def watch(self, kind: str, obj_id: int, url: str | None) -> None:
        """Remember that ``url`` must be POSTed when the object finishes."""
        if not url:
            return
        when = self.due_time(kind, obj_id)
        if when is not None:
            self._seq += 1
            heapq.heappush(self.pending, (when, _KIND_ORDER[kind], self._seq, kind, obj_id, url))

    def add_group(self, url: str | None, prompt_ids: list[int]) -> None:
        """Register a pack's prompts_callback."""
        if url and prompt_ids:
            group_id = self.next_id("group")
            self.groups[group_id] = Group(url, prompt_ids)
            self.watch("prompts", group_id, url)

    def due_time(self, kind: str, obj_id: int) -> float | None:
        """When the object finishes (None: deleted, or waiting on a deleted tune)."""
        if kind == "tune":
            tune = self.tunes.get(obj_id)
            return None if tune is None else tune.train_due
        if kind == "prompt":
            prompt = self.prompts.get(obj_id)
            return None if prompt is None else self.prompt_done(prompt)
        members = [self.prompts[i] for i in self.groups[obj_id].prompt_ids if i in self.prompts]
        times = [self.prompt_done(p) for p in members]
        if not members or any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)

    def next_due(self) -> float | None:
        """Earliest due time among pending callbacks."""
        return self.pending[0][0] if self.pending else None

    def take_due(self, now: float) -> list[tuple[str, int, str]]:
        """Pop callbacks due by ``now``, oldest first (tunes before their prompts)."""
        due: list[tuple[str, int, str]] = []
        while self.pending and self.pending[0][0] <= now:
            when, _, _, kind, obj_id, url = heapq.heappop(self.pending)
            tune = self.tunes.get(obj_id) if kind == "tune" else None
            if tune is not None and tune.attrs.get("callback") != url:
                continue  # replaced by PATCH /tunes/:id before training finished
            if self.due_time(kind, obj_id) == when:
                due.append((kind, obj_id, url))
        return due

    # ---- undoing a request that failed inside the fake ----

    def mark(self) -> dict[str, int]:
        """The next ids and the balance now, for :meth:`undo`."""
        return {**self._next, "balance": self.balance_mc}

    def undo(self, mark: dict[str, int]) -> None:
        """Drop every tune, prompt, pack and workspace created since ``mark``."""
        for prompt_id in [i for i in self.prompts if i >= mark["prompt"]]:
            self.delete_prompt(prompt_id)
        for tune_id in [t.id for t in self.tunes.values()
                        if not t.gallery and t.id >= mark["tune"]]:
            self.delete_tune(tune_id)
        for pack_id in [i for i in self.packs if i >= mark["pack"]]:
            del self.packs[pack_id]
        for key in [k for k, w in self.workspaces.items() if int(w["id"]) >= mark["workspace"]]:
            del self.workspaces[key]
        self.balance_mc = mark["balance"]

    # ---- deletion (API notes §3.6, §5.6) ----

    def add_prompt(self, prompt: PromptRec) -> None:
        """Store a new prompt (its id above every other's)."""
        self.prompts[prompt.id] = prompt
        self._ids.append(prompt.id)
        self._by_tune.setdefault(prompt.tune_id, []).append(prompt.id)

    def delete_prompt(self, prompt_id: int) -> None:
        """Remove a prompt and its images."""
        prompt = self.prompts.pop(prompt_id)
        del self._ids[bisect.bisect_left(self._ids, prompt_id)]
        self._by_tune[prompt.tune_id].remove(prompt_id)
        for token in prompt.images:
            self.image_owner.pop(token, None)

    def delete_tune(self, tune_id: int) -> None:
        """Remove a tune, its training images and the prompts posted to it."""
        tune = self.tunes.pop(tune_id)
        for token in tune.orig_images:
            self.blobs.pop(token, None)
        for prompt_id in list(self._by_tune.get(tune_id, ())):
            self.delete_prompt(prompt_id)

    # ---- listing ----

    def user_tunes(self) -> Iterator[TuneRec]:
        """The user's tunes, newest first."""
        return (t for t in reversed(self.tunes.values()) if not t.gallery)

    def newest_first(self, below: int | None = None,
                     tune: int | None = None) -> Iterator[PromptRec]:
        """All prompts (with an id below `below`; of `tune` only, when given), newest first.

        Ids only grow, so insertion order is id order: a keyset page starts with a bisect
        instead of a walk past every newer prompt (100,000 prompts made each deep page slow).
        A tune's prompts come from its own index: a filter over 20,000 prompts of other tunes
        took ~40 ms a page, in the loop of the client under test.
        """
        prompts = self.prompts
        ids = self._ids if tune is None else self._by_tune.get(tune, [])
        end = len(ids) if below is None else bisect.bisect_left(ids, below)
        return (prompts[ids[i]] for i in range(end - 1, -1, -1))


def in_scope(workspace: str | None, scope: str | None) -> bool:
    """Whether an object in ``workspace`` shows in a list under ``scope`` (API notes §1.3)."""
    return scope == "all" or workspace == scope


def page(items: Iterable[Any], *, before_id: int | None, offset: int, limit: int) -> list[Any]:
    """Keyset (``before_id``) then offset/limit over a newest-first iterable."""
    out: list[Any] = []
    skipped = 0
    for item in items:
        if before_id is not None and item.id >= before_id:
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(item)
        if len(out) >= limit:
            break
    return out
