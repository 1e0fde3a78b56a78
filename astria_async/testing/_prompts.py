"""Prompt creation and the /prompts routes (API notes §4, §5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._account import workspace_missing
from ._rails import UploadedFile
from ._render import PROMPT_DEFAULTS, prompt_json
from ._seed import FOUR_IMAGE_MODELS
from ._store import REF_RE, PromptRec, Store, TuneRec, in_scope, page
from ._validate import cast, validate_prompt
from ._wire import Ctx, Reply, empty, not_found, unprocessable

PROMPT_COST_MC = 3_000  # per image; a prompt's cost_mc already includes num_images (API notes §15)
# The attributes that make two prompts "the same" under account idempotency (API notes §14).
IDEMPOTENCY_FIELDS = (
    "text", "cfg_scale", "steps", "seed", "callback", "negative_prompt", "super_resolution",
    "face_correct", "ar", "num_images", "controlnet", "denoising_strength", "use_lpw",
    "controlnet_conditioning_scale", "w", "h", "hires_fix", "scheduler", "controlnet_txt2img",
    "inpaint_faces",
)
_FILE_FIELDS = ("input_image", "mask_image", "input_video", "video_first_frame",
                "video_last_frame", "audio_reference")


def _same_key(attrs: dict[str, Any]) -> tuple[Any, ...]:
    def norm(key: str) -> Any:
        value = attrs.get(key, PROMPT_DEFAULTS.get(key))
        return None if value in ("", None) else value
    return tuple(norm(key) for key in IDEMPOTENCY_FIELDS)


def _files_to_urls(store: Store, value: Any, owner: int) -> Any:
    """Every uploaded file (also inside lists) becomes the URL it is served at."""
    if isinstance(value, UploadedFile):
        return store.url(f"/mp/{store.add_blob(value.data, value.content_type, owner)}")
    if isinstance(value, str) and value in store.signed_ids:  # a direct-upload signed id
        return store.url(f"/mp/{store.signed_ids[value]}")
    if isinstance(value, list):
        return [_files_to_urls(store, item, owner) for item in value]
    if isinstance(value, dict):
        return {key: _files_to_urls(store, item, owner) for key, item in value.items()}
    return value


def _media(store: Store, attrs: dict[str, Any], owner: int) -> dict[str, Any]:
    """Store uploaded files and fold each ``*_url`` twin into its field (API notes §5.1).

    Nothing stored keeps an upload object, so every later answer can render it.
    ``image_references[]`` (files) and ``image_reference_urls[]`` keep their order.
    """
    out = {key: _files_to_urls(store, value, owner) for key, value in attrs.items()}
    for name in _FILE_FIELDS:
        url = out.pop(f"{name}_url", None)
        if url and not out.get(name):
            out[name] = url
    references = out.get("image_references")
    references = references if isinstance(references, list) else [] if references in (
        None, "") else [references]
    urls = out.pop("image_reference_urls", None)
    references += urls if isinstance(urls, list) else [] if urls in (None, "") else [urls]
    out["image_references"] = [str(item) for item in references]
    return out


def referenced_tunes(store: Store, text: str) -> tuple[int, ...]:
    """Tune ids named by ``<lora:ID:w>`` / ``<faceid:ID:w>``; each must exist (API notes §6)."""
    ids: list[int] = []
    for match in REF_RE.finditer(text):
        tune_id = int(match.group(2))
        if tune_id not in store.tunes:
            raise unprocessable(f"Tune {tune_id} referenced in the prompt text was not found")
        if tune_id not in ids:
            ids.append(tune_id)
    return tuple(ids)


def create_prompt(
    ctx: Ctx, tune: TuneRec, raw: dict[str, Any], *, workspace: str | None = None,
) -> tuple[PromptRec, bool]:
    """Validate and create a prompt on ``tune``; returns (prompt, created)."""
    store = ctx.store
    attrs = cast(raw)
    model_type = tune.attrs.get("model_type")
    if model_type in ("lora", "faceid") and not tune.gallery:
        # LoRAs and FaceID references run on a base model via <lora:id:w> / <faceid:id:1>
        # (API notes §5.1, §13); Astria refuses both alike.
        raise unprocessable(f"model_type={model_type} is not supported. Use a checkpoint instead")
    max_images = 4 if tune.id in FOUR_IMAGE_MODELS else 8
    validate_prompt(attrs, flux=tune.attrs.get("branch") == "flux1", max_images=max_images)
    # A video's references may be named only in its video prompt (as the official CLI does).
    refs = referenced_tunes(store, f"{attrs.get('text') or ''} {attrs.get('video_prompt') or ''}")
    if store.config.idempotent:
        key = _same_key(attrs)
        for existing in store.prompts.values():
            if existing.tune_id == tune.id and _same_key(existing.attrs) == key:
                return existing, False
    deps = (tune.id, *[r for r in refs if r != tune.id])
    mock = any(store.tunes[t].attrs.get("branch") == "fast" for t in deps)
    prompt_id = store.next_id("prompt")
    attrs = _media(store, attrs, prompt_id)
    num_images = attrs.get("num_images") or 1
    attrs["num_images"] = num_images
    # A video prompt delivers one MP4 in `images` (API notes §4); an image prompt one URL per image.
    outputs = 1 if attrs.get("video_model") else num_images
    if attrs.get("workspace_id") is not None:
        workspace = str(attrs["workspace_id"])
        if workspace not in store.workspaces:  # billed there, so it must exist (API notes §1.3)
            raise workspace_missing()
    prompt = PromptRec(
        id=prompt_id, tune_id=tune.id, attrs=attrs, workspace=workspace, created=ctx.now,
        deps=deps, refs=refs, user_error=store.config.fail_rule(dict(attrs)),
        images=store.mint_images(prompt_id, outputs),
        cost_mc=0 if mock else PROMPT_COST_MC * num_images, mock=mock, updated=ctx.now,
    )
    store.add_prompt(prompt)
    store.balance_mc -= prompt.cost_mc
    store.watch("prompt", prompt_id, attrs.get("callback"))
    return prompt, True


def _tune(ctx: Ctx, tune_id: str) -> TuneRec:
    tune = ctx.store.tunes.get(int(tune_id))
    if tune is None:
        raise not_found()
    return tune


def find_prompt(ctx: Ctx, prompt_id: str, tune_id: str | None = None) -> PromptRec:
    """The prompt, or 404 (also when the nested URL names another tune)."""
    prompt = ctx.store.prompts.get(int(prompt_id))
    # The nested form needs the tune the prompt was posted to (API notes §5.2, §13 404).
    if prompt is None or (tune_id is not None and prompt.tune_id != int(tune_id)):
        raise not_found()
    return prompt


def post_tune_prompts(ctx: Ctx) -> Reply:
    """POST /tunes/:id/prompts."""
    prompt, _ = create_prompt(ctx, _tune(ctx, ctx.params[0]), ctx.root("prompt"),
                              workspace=ctx.workspace)
    return Reply(201, prompt_json(ctx.store, prompt, ctx.now))


def post_prompts(ctx: Ctx) -> Reply:
    """POST /prompts with ``prompt[tune_id]`` (board view wraps the answer, as the CLI reads)."""
    attrs = ctx.root("prompt")
    tune_id = attrs.get("tune_id")
    if tune_id in (None, ""):
        raise unprocessable("Tune must exist")
    prompt, _ = create_prompt(ctx, _tune(ctx, str(tune_id)), attrs, workspace=ctx.workspace)
    body = prompt_json(ctx.store, prompt, ctx.now)
    return Reply(201, {"prompt": body} if ctx.query.get("view") == "board" else body)


_FILTERS = ("tune_id", "pack_id", "base_pack_id", "order_id", "orig_prompt_id", "user_id")


def _list(ctx: Ctx, tune_id: int | None) -> Reply:
    before_id, offset, limit = ctx.paging(max_offset=10_000)
    store = ctx.store
    wanted = {key: str(ctx.query[key]) for key in _FILTERS if ctx.query.get(key) not in (None, "")}
    if tune_id is not None:
        wanted["tune_id"] = str(tune_id)
    text = str(ctx.query.get("text") or "").lower()

    def keep(prompt: PromptRec) -> bool:
        if not in_scope(prompt.workspace, ctx.workspace):
            return False
        if wanted:
            values = {**prompt.attrs, "tune_id": prompt.tune_id, "user_id": store.config.user_id}
            if any(str(values.get(key)) != value for key, value in wanted.items()):
                return False
        return text in str(prompt.attrs.get("text") or "").lower() and all(
            test(prompt) for test in flags)

    flags = [test for name, test in _flag_filters(ctx).items() if ctx.flag(name)]
    tune = wanted.get("tune_id")
    indexed = int(tune) if tune is not None and tune.isdigit() else None
    chosen = page((p for p in store.newest_first(before_id, indexed) if keep(p)),
                  before_id=before_id, offset=offset, limit=limit)
    expand = ctx.expand()
    return Reply(200, [prompt_json(store, p, ctx.now, expand) for p in chosen])


def _flag_filters(ctx: Ctx) -> dict[str, Callable[[PromptRec], bool]]:
    """``liked``/``today``/``is_video``/``is_api`` = true narrow a list (API notes §5.3)."""
    midnight = ctx.now - ctx.now % 86400.0  # today in UTC, by the fake's clock
    return {
        "liked": lambda p: p.liked,
        "today": lambda p: p.created >= midnight,
        "is_video": lambda p: bool(p.attrs.get("video_model")),
        "is_api": lambda p: p.is_api,
    }


def list_tune_prompts(ctx: Ctx) -> Reply:
    """GET /tunes/:id/prompts."""
    return _list(ctx, _tune(ctx, ctx.params[0]).id)


def list_prompts(ctx: Ctx) -> Reply:
    """GET /prompts with the API notes §5.3 filters."""
    return _list(ctx, None)


def get_prompt(ctx: Ctx) -> Reply:
    """GET /prompts/:id and GET /tunes/:tune_id/prompts/:id."""
    tune_id, prompt_id = (None, ctx.params[0]) if len(ctx.params) == 1 else ctx.params
    prompt = find_prompt(ctx, prompt_id, tune_id)
    return Reply(200, prompt_json(ctx.store, prompt, ctx.now, ctx.expand()))


def delete_prompt(ctx: Ctx) -> Reply:
    """DELETE: 200 + message on /prompts/:id, 204 on the nested form (API notes §5.6)."""
    if len(ctx.params) == 1:
        ctx.store.delete_prompt(find_prompt(ctx, ctx.params[0]).id)
        return Reply(200, {"message": "Prompt successfully deleted"})
    ctx.store.delete_prompt(find_prompt(ctx, ctx.params[1], ctx.params[0]).id)
    return empty(204)

