"""Changing prompts: PATCH (pack/workspace), duplicate, likes (API notes §5.4, §5.5, §9)."""

from __future__ import annotations

from typing import Any

from ._account import workspace_missing
from ._prompts import create_prompt, find_prompt
from ._render import prompt_json
from ._store import PromptRec, Store
from ._validate import cast
from ._wire import Ctx, HttpError, Reply, empty, unprocessable

# What a duplicate does not inherit: the outcome of the original and its provenance keys.
_NOT_COPIED = frozenset({"pack_id", "order_id", "workspace_id"})


def _ids(ctx: Ctx) -> tuple[str | None, str]:
    return (None, ctx.params[0]) if len(ctx.params) == 1 else (ctx.params[0], ctx.params[1])


def _fine_tuned(store: Store, prompt: PromptRec) -> bool:
    """A prompt uses a fine-tuned model: a user tune, or a reference token in its text."""
    tune = store.tunes.get(prompt.tune_id)
    return bool(prompt.refs) or (tune is not None and not tune.gallery)


def _check_pack(store: Store, key: str, value: Any) -> None:
    if value is not None and value not in store.packs:
        raise unprocessable(f"{key} {value}: pack not found")


def _check_workspace(store: Store, value: Any) -> None:
    """``prompt[workspace_id]`` must name one of the user's workspaces (API notes §1.3)."""
    if value is not None and str(value) not in store.workspaces:
        raise workspace_missing()


def patch_prompt(ctx: Ctx) -> Reply:
    """PATCH /prompts/:id and the nested form: pack, workspace, provenance (API notes §5.4).

    ``pack_id`` makes the prompt a template of the pack: the pack must exist and the
    prompt must use a fine-tuned model (422 "Prompt is not using a fine-tuned model").
    """
    tune_id, prompt_id = _ids(ctx)
    store = ctx.store
    prompt = find_prompt(ctx, prompt_id, tune_id)
    changes = cast(ctx.root("prompt"))
    _check_pack(store, "pack_id", changes.get("pack_id"))
    _check_pack(store, "base_pack_id", changes.get("base_pack_id"))
    _check_workspace(store, changes.get("workspace_id"))
    if changes.get("pack_id") is not None and not _fine_tuned(store, prompt):
        raise unprocessable("Prompt is not using a fine-tuned model")
    for key in ("pack_id", "base_pack_id", "orig_prompt_id", "order_id"):
        if key in changes:
            prompt.attrs[key] = changes[key]
    if changes.get("workspace_id") is not None:
        prompt.workspace = str(changes["workspace_id"])
    prompt.updated = ctx.now
    return Reply(200, prompt_json(store, prompt, ctx.now))


def duplicate_prompt(ctx: Ctx) -> Reply:
    """POST /prompts/:id/duplicate: a new prompt from the original plus ``prompt[...]`` overrides.

    A top-level ``image_index`` reuses that image of the (finished) original as the
    new prompt's base: its first video frame when the result is a video, else its
    input image — the documented way to animate an existing picture (API notes §5.5).
    """
    store = ctx.store
    original = find_prompt(ctx, ctx.params[0])
    overrides = ctx.body.get("prompt") or {}
    if not isinstance(overrides, dict):
        raise HttpError(400, {"error": "prompt must be an object"})
    attrs = {k: v for k, v in original.attrs.items() if k not in _NOT_COPIED}
    attrs.update(overrides)
    attrs["orig_prompt_id"] = original.id
    index = ctx.body.get("image_index", ctx.query.get("image_index"))
    if index not in (None, ""):
        images = prompt_json(store, original, ctx.now)["images"]
        try:
            position = int(str(index))
        except ValueError:
            raise unprocessable("image_index must be an integer") from None
        if not 0 <= position < len(images):
            raise unprocessable(f"image_index must be between 0 and {len(images) - 1}"
                                if images else "The prompt has no images yet")
        target = "video_first_frame" if attrs.get("video_model") else "input_image"
        attrs[target] = images[position]
    tune = store.tunes[original.tune_id]
    prompt, _ = create_prompt(ctx, tune, attrs, workspace=ctx.home() or original.workspace)
    return Reply(201, prompt_json(store, prompt, ctx.now))


def like_prompt(ctx: Ctx) -> Reply:
    """POST /prompts/:id/likes (or ``/like``) → 201, no body; its pack template is liked too."""
    prompt = find_prompt(ctx, ctx.params[0])
    prompt.liked = True
    template = ctx.store.prompts.get(prompt.attrs.get("orig_prompt_id") or -1)
    if template is not None:
        template.liked = True
    return empty(201)


def unlike_prompt(ctx: Ctx) -> Reply:
    """DELETE /prompts/:id/likes (or ``/like``) → 204."""
    find_prompt(ctx, ctx.params[0]).liked = False
    return empty(204)
