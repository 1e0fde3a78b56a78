"""Tune creation and the /tunes routes (API notes §2, §3)."""

from __future__ import annotations

import re
from typing import Any

from ._prompts import create_prompt
from ._rails import UploadedFile
from ._render import tune_json
from ._seed import DEFAULT_BASE, FLUX_DEV, Pack
from ._store import Store, TuneRec, in_scope, page
from ._validate import cast, characteristics, validate_tune
from ._wire import Ctx, HttpError, Reply, empty, not_found, unprocessable

TUNE_COST_MC = 150_000  # a Flux portrait training (API notes §15)
PARTNER_BRANCHES = ("partner-1", "gemini-2")
# Keys that configure the create call itself rather than the stored tune.
_NOT_STORED = ("images", "image_urls", "prompts_attributes", "tune_ids", "prompt_ids",
               "prompt_attributes", "prompts_callback", "brief", "image_captions")


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _training_images(store: Store, attrs: dict[str, Any], tune_id: int) -> list[str]:
    tokens: list[str] = []
    for item in attrs["images"]:
        if isinstance(item, UploadedFile):
            tokens.append(store.add_blob(item.data, item.content_type, tune_id))
        elif isinstance(item, str) and item in store.signed_ids:
            tokens.append(store.signed_ids[item])
        else:
            raise unprocessable("images[] must be uploaded files or direct-upload signed ids")
    # image_urls are never fetched (the fake stays off the network): a placeholder
    # PNG stands in for each downloaded copy.
    tokens += [store.add_blob(None, "image/png", tune_id) for _ in attrs["image_urls"]]
    return tokens


def inference_target(store: Store, tune: TuneRec) -> tuple[TuneRec, str | None]:
    """Where this tune's prompts run and the token that loads it (API notes §5.1, §7)."""
    model_type = tune.attrs.get("model_type")
    if model_type not in ("lora", "pti", "faceid"):
        return tune, None
    base_id = tune.attrs.get("base_tune_id") or DEFAULT_BASE.get(
        str(tune.attrs.get("branch")), FLUX_DEV)
    base = store.tunes.get(base_id) or store.tunes[FLUX_DEV]
    kind = "faceid" if model_type == "faceid" else "lora"
    return base, f"<{kind}:{tune.id}:{{weight}}>"


def with_reference(text: str, token: str | None, tune_id: int, weight: Any = 1) -> str:
    """Prefix ``text`` with the tune's token unless the text already names the tune."""
    if token is None or re.search(rf"<[a-z0-9_]+:{tune_id}:", text, re.IGNORECASE):
        return text
    return f"{token.format(weight=weight if weight is not None else 1)} {text}".strip()


def create_tune(ctx: Ctx, raw: dict[str, Any], *, pack: Pack | None = None,
                need_images: bool = True,
                train_seconds: float | None = None) -> tuple[TuneRec, bool]:
    """Validate and create a tune plus its nested prompts; returns (tune, created)."""
    store = ctx.store
    attrs = cast(raw)
    attrs["images"], attrs["image_urls"] = _as_list(attrs.get("images")), _as_list(
        attrs.get("image_urls"))
    if pack is not None:
        # Base model, model type and preset come from the pack (API notes §8.3).
        attrs.update(base_tune_id=pack.base_tune_id, model_type=pack.model_type,
                     preset=attrs.get("preset") or pack.preset, base_pack_id=pack.id)
    validate_tune(attrs, need_images=need_images)
    if store.config.idempotent:
        # The title is the idempotency key (API notes §14).
        for existing in store.user_tunes():
            if existing.attrs.get("title") == attrs["title"]:
                return existing, False
    base = None
    if attrs.get("base_tune_id") is not None:
        base = store.tunes.get(attrs["base_tune_id"])
        if base is None:
            raise unprocessable(f"Base tune {attrs['base_tune_id']} not found")
    partner = base is not None and base.attrs.get("branch") in PARTNER_BRANCHES
    branch = attrs.get("branch") or (
        ("gemini-2" if partner else base.attrs.get("branch")) if base is not None else "sd15")
    model_type = attrs.get("model_type") or ("faceid" if partner else None)
    if branch == "flux1" and model_type != "faceid":
        model_type = "lora"  # Flux training is LoRA (API notes §3.4)
    if branch == "sdxl1" and model_type != "faceid":
        model_type = "pti"  # forced for SDXL (API notes §3.4)
    if base is None and model_type in ("lora", "faceid"):
        # Astria names the base model a LoRA was trained on, or a reference runs on by
        # default (API notes §3.4): the branch's gallery model when none was given.
        base = store.tunes[DEFAULT_BASE.get(str(branch), FLUX_DEV)]
    # FaceID and Gemini-style references are image sets, usable at once (API notes §2, §7).
    instant = model_type == "faceid" or partner
    nested = _as_list(attrs.get("prompts_attributes"))
    if not all(isinstance(item, dict) for item in nested):
        raise unprocessable("prompts_attributes must be a list of prompt objects")
    tune_id = store.next_id("tune")
    stored = {k: v for k, v in attrs.items() if k not in _NOT_STORED}
    stored.update(
        branch=branch, model_type=model_type, base_tune_id=None if base is None else base.id,
        token=attrs.get("token") or (None if model_type == "faceid"
                                     else "sks" if branch == "sd15" else "ohwx"),
        characteristics=characteristics(attrs.get("characteristics")),
        auto_extend=bool(attrs.get("auto_extend")),
    )
    seconds = train_seconds if train_seconds is not None else 0.0 if instant else (
        store.config.fast_train_seconds if branch == "fast" else store.config.train_seconds)
    tune = TuneRec(tune_id, stored, ctx.home(), ctx.now, ctx.now + seconds,
                   cost_mc=0 if branch == "fast" or instant else TUNE_COST_MC, updated=ctx.now)
    tune.orig_images = _training_images(store, attrs, tune_id)
    store.tunes[tune_id] = tune
    store.balance_mc -= tune.cost_mc
    try:
        for item in nested:
            run_on_tune(ctx, tune, dict(item))
    except HttpError:
        rollback(store, tune.prompt_ids, tune)
        raise
    store.watch("tune", tune_id, stored.get("callback"))
    return tune, True


def run_on_tune(ctx: Ctx, tune: TuneRec, attrs: dict[str, Any],
                workspace: str | None = None) -> int:
    """Create one prompt for ``tune`` on the model it runs on; remember it on the tune."""
    target, token = inference_target(ctx.store, tune)
    attrs["text"] = with_reference(str(attrs.get("text") or ""), token, tune.id,
                                   attrs.get("lora_scale"))
    prompt, _ = create_prompt(ctx, target, attrs, workspace=workspace or tune.workspace)
    tune.prompt_ids.append(prompt.id)
    return prompt.id


def rollback(store: Store, prompt_ids: list[int], tune: TuneRec | None = None) -> None:
    """Undo a failed multi-object create, as the Rails transaction would."""
    for prompt_id in prompt_ids:
        if prompt_id in store.prompts:
            store.balance_mc += store.prompts[prompt_id].cost_mc
            store.delete_prompt(prompt_id)
    if tune is not None:
        store.balance_mc += tune.cost_mc
        store.delete_tune(tune.id)


def _own_tune(ctx: Ctx) -> TuneRec:
    tune = ctx.store.tunes.get(int(ctx.params[0]))
    if tune is None or tune.gallery:  # gallery models are readable, not yours to change
        raise not_found()
    return tune


def post_tunes(ctx: Ctx) -> Reply:
    """POST /tunes → 201 with the tune (and the prompts made with it)."""
    tune, _ = create_tune(ctx, ctx.root("tune"))
    return Reply(201, tune_json(ctx.store, tune, ctx.now, with_prompts=True))


def get_tune(ctx: Ctx) -> Reply:
    """GET /tunes/:id (also public gallery tunes)."""
    tune = ctx.store.tunes.get(int(ctx.params[0]))
    if tune is None:
        raise not_found()
    return Reply(200, tune_json(ctx.store, tune, ctx.now))


def patch_tune(ctx: Ctx) -> Reply:
    """PATCH /tunes/:id: title, name, auto_extend, characteristics, callback (API notes §3.5)."""
    tune = _own_tune(ctx)
    changes = cast(ctx.root("tune"))
    for key in ("title", "name"):
        if key in changes and not str(changes[key] or "").strip():
            raise unprocessable(f"{key.capitalize()} can't be blank")
    if "characteristics" in changes:
        changes["characteristics"] = characteristics(changes["characteristics"])
    for key in ("title", "name", "auto_extend", "characteristics", "callback"):
        if key in changes:
            tune.attrs[key] = changes[key]
    if "callback" in changes and (tune.train_due or 0.0) > ctx.now:
        ctx.store.watch("tune", tune.id, changes["callback"])
    tune.updated = ctx.now
    return Reply(200, tune_json(ctx.store, tune, ctx.now))


def delete_tune(ctx: Ctx) -> Reply:
    """DELETE /tunes/:id → plain 200 with an empty body (API notes §3.6)."""
    ctx.store.delete_tune(_own_tune(ctx).id)
    return empty(200)


def _filtered(ctx: Ctx, tunes: list[TuneRec]) -> list[TuneRec]:
    title = str(ctx.query.get("title") or "").lower()
    names = [str(n) for n in _as_list(ctx.query.get("name"))]
    exact = {k: str(ctx.query[k]) for k in ("model_type", "branch") if ctx.query.get(k)}
    return [
        t for t in tunes
        if title in str(t.attrs.get("title") or "").lower()
        and (not names or str(t.attrs.get("name")) in names)
        and all(str(t.attrs.get(k)) == v for k, v in exact.items())
    ]


def list_tunes(ctx: Ctx) -> Reply:
    """GET /tunes: newest first, workspace-scoped, before_id/offset/limit (API notes §3.1)."""
    before_id, offset, limit = ctx.paging(max_offset=200)
    mine = [t for t in ctx.store.user_tunes() if in_scope(t.workspace, ctx.workspace)]
    chosen = page(_filtered(ctx, mine), before_id=before_id, offset=offset, limit=limit)
    return Reply(200, [tune_json(ctx.store, t, ctx.now) for t in chosen])


def list_gallery_tunes(ctx: Ctx) -> Reply:
    """GET /gallery/tunes: public models (API notes §3.2); the CLI asks for up to 200."""
    before_id, offset, limit = ctx.paging(max_offset=200, max_limit=200)
    gallery = sorted((t for t in ctx.store.tunes.values() if t.gallery), key=lambda t: -t.id)
    chosen = page(_filtered(ctx, gallery), before_id=before_id, offset=offset, limit=limit)
    return Reply(200, [tune_json(ctx.store, t, ctx.now) for t in chosen])
