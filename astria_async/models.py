"""Frozen attrs models of Astria objects; each keeps the untouched payload in `raw`."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._config import TUNE_ETA_MARGIN, TUNE_FAST_FIRST_LOOK, TUNE_MIN_FIRST_LOOK
from ._fields_repr import fields_repr
from .errors import ConfigurationError
from .waiting.policy import WaitPolicy

# `<lora:123:1>`, `<faceid:123:1>` and the newer `<model_type:ID:1>` references (API notes §6).
_REF = re.compile(r"<(?:lora|faceid|pti|[a-z_]+):(\d+):[\d.]+>")
_SECRET = re.compile(r"((?:^|[?&])[^=&]*secret[^=&]*=)[^&]*", re.IGNORECASE)


def tune_refs(text: str | None) -> tuple[int, ...]:
    """The tune ids referenced by `<lora:ID:w>` / `<faceid:ID:w>` tokens in a prompt text."""
    if not text or "<" not in text:  # most prompts: no token, no regex scan (issue #16)
        return ()
    return tuple(dict.fromkeys(map(int, _REF.findall(text))))


def raw_field() -> Any:
    """The `raw` field of a model: the payload as sent, not compared, hashed or shown."""
    return attrs.field(factory=dict, eq=False, repr=False, hash=False)


def _redacted(url: str | None) -> str:
    # Callback URLs carry a secret in their query string (callbacks.py): never in a repr.
    return repr(_SECRET.sub(r"\1***", url) if url else url)


def _short(text: str | None, limit: int = 40) -> str | None:
    """A text cut to `limit` characters for a repr (the full value stays on the object)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _repr(obj: object, fields: list[tuple[str, Any]], callback: str | None) -> str:
    """`Kind(a=1, b='x')` of the fields that are set, the callback last and redacted."""
    parts = [f"{name}={value!r}" for name, value in fields if value not in (None, "", ())]
    if callback:
        parts.append(f"callback={_redacted(callback)}")
    return f"{type(obj).__name__}({', '.join(parts)})"


class TuneWaits(Protocol):
    """What `Tune.wait_trained` needs of `client.tunes`."""

    async def wait_trained(self, tune_id: int | Tune, *, timeout: float | None = None,
                           policy: WaitPolicy | None = None,
                           on_update: Callable[[Tune], None] | None = None) -> Tune: ...


class PromptWaits(Protocol):
    """What `Prompt.wait_images` and `Prompt.download` need of `client.prompts`."""

    async def wait_images(self, prompt_id: int | Prompt, *, timeout: float | None = None,
                          policy: WaitPolicy | None = None,
                          on_update: Callable[[Prompt], None] | None = None) -> Prompt: ...

    async def download(self, prompt_id: int | Prompt,
                       directory: str | os.PathLike[str]) -> list[Path]: ...


class Binding(Protocol):
    """What a model is bound to so that `tune.wait_trained()` works: an `AstriaClient`."""

    @property
    def tunes(self) -> TuneWaits: ...

    @property
    def prompts(self) -> PromptWaits: ...


# Field names per model class, for `_first_read` (filled on first use).
_FIELD_NAMES: dict[type[Any], frozenset[str]] = {}


def _fill(obj: Any) -> None:
    # `_convert` imports this module, so it cannot be imported here at the top; once imported
    # it puts its `fill` here, sparing each first read an import statement (~1 µs).
    from . import _convert

    _convert.fill(obj)


def _first_read(obj: Any, name: str) -> Any:
    """`__getattr__` of `Tune`, `Prompt` and `Pack`: Python calls it only for a name that
    normal lookup does not find, here a field slot that is not set yet. A model returned by
    a client call is built lazily: the answer is checked (an object with a readable `id`, and
    the few fields the client itself reads) but its other fields are read from `raw`, all at
    once, on the first read of any of them, so a call whose answer is not read (a create
    that only needs the id) does not pay for building it. Anything else is an AttributeError.
    """
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in attrs.fields(cls))
    if name not in names:
        raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}")
    _fill(obj)
    return object.__getattribute__(obj, name)


def _bound(obj: Tune | Prompt, method: str) -> Binding:
    client = obj._client
    if client is None:
        kind = type(obj).__name__
        raise ConfigurationError(
            f"this {kind} is not bound to a client (it was built without one, e.g. "
            f"{kind}.from_dict(data)); use client.{kind.lower()}s.{method}({obj.id}) or "
            f"{kind}.from_dict(data, client)")
    return client


@attrs.frozen(kw_only=True, repr=False)
class Tune:
    """A fine-tune or reference (API notes §2). Trained when `trained_at` is set."""

    id: int
    title: str | None = None
    name: str | None = None
    token: str | None = None
    is_api: bool | None = None
    callback: str | None = None
    branch: str | None = None
    model_type: str | None = None
    base_tune_id: int | None = None
    args: str | None = None
    steps: int | None = None
    face_crop: bool | None = None
    training_face_correct: bool | None = None
    ckpt_url: str | None = None
    ckpt_urls: tuple[str, ...] = ()
    eta: datetime | None = None
    started_training_at: datetime | None = None
    trained_at: datetime | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    url: str | None = None
    orig_images: tuple[str, ...] = ()
    cost_mc: int | None = None
    characteristics: Mapping[str, Any] | None = None
    auto_extend: bool | None = None
    preset: str | None = None
    prompts: tuple[Prompt, ...] = ()
    base_pack_id: int | None = None
    prompts_callback: str | None = attrs.field(default=None, repr=_redacted)
    raw: Mapping[str, Any] = raw_field()
    _client: Binding | None = attrs.field(default=None, eq=False, repr=False, hash=False)

    if not TYPE_CHECKING:  # at run time only: mypy still rejects a misspelt attribute
        __getattr__ = _first_read

    @property
    def is_trained(self) -> bool:
        """True once training finished (or at once for FaceID/Gemini references)."""
        return self.trained_at is not None

    def __repr__(self) -> str:
        # One line: what identifies the tune and where it stands (not ~1,000 characters of
        # every field; `raw` never).
        state = "trained" if self.is_trained else "training" if self.started_training_at \
            else "queued"
        return _repr(self, [("id", self.id), ("title", _short(self.title)), ("name", self.name),
                            ("branch", self.branch), ("model_type", self.model_type),
                            ("base_tune_id", self.base_tune_id), ("state", state)],
                     self.callback)

    @property
    def is_fast(self) -> bool:
        """True for `branch=fast` mock tunes, which are free (API notes §15)."""
        return self.branch == "fast"

    def first_look(self, now: float | None = None) -> float | None:
        """Seconds until a wait should first look at this tune, from what Astria said.

        A second after `eta` when it is given (at least `TUNE_MIN_FIRST_LOOK` when it has
        passed), else a short look for a `branch=fast` mock; None when trained (nothing to
        look for) or when the tune says nothing. `now` is epoch seconds (default: the time).
        """
        if self.is_trained:
            return None
        if self.eta is not None:
            wall = time.time() if now is None else now
            return max(TUNE_MIN_FIRST_LOOK, self.eta.timestamp() - wall + TUNE_ETA_MARGIN)
        return TUNE_FAST_FIRST_LOOK if self.is_fast else None

    async def wait_trained(self, *, timeout: float | None = None,
                           policy: WaitPolicy | None = None,
                           on_update: Callable[[Tune], None] | None = None) -> Tune:
        """Wait until trained; see `client.tunes.wait_trained` (returns a fresh `Tune`)."""
        client = _bound(self, "wait_trained")
        return await client.tunes.wait_trained(self, timeout=timeout, policy=policy,
                                               on_update=on_update)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], client: Binding | None = None) -> Tune:
        """Build from an API payload, flat or wrapped as `{"tune": {...}}`."""
        from ._convert import structure

        return structure(data, cls, client, lazy=False)


@attrs.frozen(kw_only=True, repr=False)
class Prompt:
    """One generation job (API notes §4). Finished when it has images or a `user_error`."""

    id: int
    tune_id: int | None = None
    text: str | None = None
    negative_prompt: str | None = None
    callback: str | None = None
    cfg_scale: float | None = None
    steps: int | None = None
    seed: int | None = None
    num_images: int | None = None
    trained_at: datetime | None = None
    started_training_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    url: str | None = None
    images: tuple[str, ...] = ()
    user_error: str | None = None
    super_resolution: bool | None = None
    inpaint_faces: bool | None = None
    hires_fix: bool | None = None
    face_correct: bool | None = None
    face_swap: bool | None = None
    ar: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    w: int | None = None
    h: int | None = None
    scheduler: str | None = None
    style: str | None = None
    controlnet: str | None = None
    controlnet_conditioning_scale: float | None = None
    controlnet_txt2img: bool | None = None
    denoising_strength: float | None = None
    input_image: str | None = None
    pack_id: int | None = None
    base_pack_id: int | None = None
    order_id: int | None = None
    orig_prompt_id: int | None = None
    cost_mc: int | None = None
    tunes: tuple[Mapping[str, Any], ...] = ()
    # Video prompts (API notes §4, §5.1): the inputs as stored, the references in order.
    input_video: str | None = None
    image_references: tuple[str, ...] = ()
    video_model: str | None = None
    video_prompt: str | None = None
    video_duration: int | None = None
    liked: bool | None = None
    prompt_likes_count: int | None = None
    # Only with `expand=["debug_images"]` on get/list (API notes §4).
    debug_images: tuple[str, ...] = ()
    raw: Mapping[str, Any] = raw_field()
    _client: Binding | None = attrs.field(default=None, eq=False, repr=False, hash=False)

    if not TYPE_CHECKING:  # at run time only: mypy still rejects a misspelt attribute
        __getattr__ = _first_read

    @property
    def is_failed(self) -> bool:
        """True when Astria set a `user_error` (API notes §11)."""
        return bool(self.user_error)

    def __repr__(self) -> str:
        state = (f"failed: {_short(self.user_error, 30)}" if self.is_failed
                 else "done" if self.images else "pending")
        return _repr(self, [("id", self.id), ("tune_id", self.tune_id),
                            ("text", _short(self.text)), ("num_images", self.num_images),
                            ("images", len(self.images) or None), ("state", state)],
                     self.callback)

    @property
    def succeeded(self) -> bool:
        """True when images arrived and there is no `user_error`."""
        return bool(self.images) and not self.user_error

    @property
    def is_finished(self) -> bool:
        """Settled: images arrived or a `user_error` was set (Astria's CLI rule, API notes §11)."""
        return bool(self.images) or bool(self.user_error)

    @property
    def ended_without_images(self) -> bool:
        """True when Astria marked it done (`trained_at`) with no images and no `user_error`.

        Astria's own tools treat this as a failure (API notes §11); waits settle it as failed
        after a short grace, since images can be attached a moment after `trained_at`.
        """
        # `raw` too: images Astria sent in a shape this client cannot read are not "no images".
        return (self.trained_at is not None and not self.images and not self.user_error
                and not self.raw.get("images"))

    @property
    def referenced_tune_ids(self) -> tuple[int, ...]:
        """Tunes used through `<lora:ID:w>` / `<faceid:ID:w>` tokens, else the posted tune.

        A LoRA or FaceID prompt is posted to a shared base model, so `tune_id` is that base
        model, not the user's tune (API notes §4).
        """
        ids = tune_refs(self.text)  # without duplicates
        if self.tunes:
            ids = tuple(dict.fromkeys(
                [*ids, *(int(t["id"]) for t in self.tunes if isinstance(t.get("id"), int))]))
        if ids:
            return ids
        return (self.tune_id,) if self.tune_id is not None else ()

    async def wait_images(self, *, timeout: float | None = None,
                          policy: WaitPolicy | None = None,
                          on_update: Callable[[Prompt], None] | None = None) -> Prompt:
        """Wait until finished; see `client.prompts.wait_images` (returns a fresh `Prompt`)."""
        client = _bound(self, "wait_images")
        return await client.prompts.wait_images(self, timeout=timeout, policy=policy,
                                                on_update=on_update)

    async def download(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Save the images into `directory`; see `client.prompts.download`."""
        client = _bound(self, "download")
        return await client.prompts.download(self, directory)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], client: Binding | None = None) -> Prompt:
        """Build from an API payload, flat or wrapped as `{"prompt": {...}}`."""
        from ._convert import structure

        return structure(data, cls, client, lazy=False)


@attrs.frozen(kw_only=True)
class Pack:
    """A pack ("template" in the GUI): template prompts plus training config (API notes §8)."""

    __repr__ = fields_repr

    id: int
    slug: str | None = None
    title: str | None = None
    subtitle: str | None = None
    base_tune_id: int | None = None
    user_id: int | None = None
    token: str | None = None
    model_type: str | None = None
    main_class_name: str | None = None
    multiplier: float | None = None
    cover_url: str | None = None
    public_at: datetime | None = None
    unlisted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    costs: Mapping[str, Any] | None = None
    cost_mc_hash: Mapping[str, Any] | None = None
    prompts_per_class: Mapping[str, Any] | None = None
    logo: str | None = None
    multiplier_api: float | None = None
    # API notes §8.2: the pack's template prompts (`id`, `cost_mc`, ...).
    template_prompts: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = raw_field()

    if not TYPE_CHECKING:  # at run time only: mypy still rejects a misspelt attribute
        __getattr__ = _first_read

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pack:
        """Build from an API payload, flat or wrapped as `{"pack": {...}}`."""
        from ._convert import structure

        return structure(data, cls, None, lazy=False)


IMAGELESS_FAILURE = ("finished without images: Astria set trained_at but returned no images and "
                     "no user_error (the client treats this as a failure, API notes §11)")


def imageless_failure(prompt: Prompt) -> Prompt | None:
    """The failed final state of a prompt that ended without images, else None.

    `user_error` gets `IMAGELESS_FAILURE`; `raw` keeps the payload Astria sent (whose
    `user_error` is empty), so the two cases stay apart.
    """
    if not prompt.ended_without_images:
        return None
    return attrs.evolve(prompt, user_error=IMAGELESS_FAILURE)
