"""Packs: /packs, /gallery/packs, /p/:id_or_slug and POST /p/:pack_id/tunes (API notes §8)."""

from __future__ import annotations

import re
from typing import Any

from ._prompts import PROMPT_COST_MC, create_prompt
from ._render import iso, tune_json
from ._seed import SEED_EPOCH, Pack, Template
from ._store import Store, TuneRec
from ._tunes import TUNE_COST_MC, create_tune, inference_target, rollback, run_on_tune
from ._validate import cast
from ._wire import Ctx, HttpError, Reply, not_found, unprocessable

_PLACEHOLDER = re.compile(r"\{(ref|token|name)(\d*)\}")


def find_pack(store: Store, key: str) -> Pack:
    """A pack by numeric id or slug (API notes §8.3: ``:pack_id`` may be the slug)."""
    for pack in store.packs.values():
        if str(pack.id) == key or pack.slug == key:
            return pack
    raise not_found()


def templates(store: Store, pack: Pack) -> list[Template]:
    """Seeded templates plus prompts assigned by ``PATCH prompt[pack_id]`` (API notes §8)."""
    assigned = [Template(p.id, str(p.attrs.get("text") or ""), int(p.attrs["num_images"]))
                for p in store.prompts.values() if p.attrs.get("pack_id") == pack.id]
    return [*pack.templates, *assigned]


def _costs(store: Store, pack: Pack) -> dict[str, dict[str, int]]:
    images = sum(t.num_images for t in templates(store, pack))
    training = 0 if pack.multi else TUNE_COST_MC
    cost = round((training + PROMPT_COST_MC * images) * pack.multiplier)
    # `cost` is the older unit (cents, API notes §8.2); `cost_mc` the milli-cent one.
    return {cls: {"cost_mc": cost, "cost": cost // 1000, "num_images": images}
            for cls in pack.classes}


def pack_json(store: Store, pack: Pack, *, detail: bool = False) -> dict[str, Any]:
    """A pack as the lists (API notes §8.1) or GET /p/:id (API notes §8.2) show it."""
    costs = _costs(store, pack)
    body: dict[str, Any] = {
        "id": pack.id, "base_tune_id": pack.base_tune_id, "user_id": store.config.user_id,
        "slug": pack.slug, "title": pack.title, "subtitle": pack.subtitle, "token": pack.token,
        "created_at": iso(pack.created), "updated_at": iso(pack.created),
        "multiplier": pack.multiplier, "multiplier_api": pack.multiplier,
        "model_type": pack.model_type,
        "public_at": iso(SEED_EPOCH) if pack.public else None, "unlisted_at": None,
        "main_class_name": pack.classes[0],
        "cost_mc_hash": {cls: c["cost_mc"] for cls, c in costs.items()}, "costs": costs,
    }
    if detail:
        chosen = templates(store, pack)
        cover = store.url(f"/mp/pack-{pack.id}-cover")
        body.update({
            "cover_url": cover, "logo": None,
            "prompts_per_class": {cls: [{"id": t.id, "images": [cover]} for t in chosen]
                                  for cls in pack.classes},
            "template_prompts": [
                {"id": t.id, "text": t.text, "num_images": t.num_images,
                 "cost_mc": PROMPT_COST_MC * t.num_images} for t in chosen
            ],
        })
    return body


def _list(ctx: Ctx, *, public_only: bool) -> Reply:
    _, offset, limit = ctx.paging(max_offset=10_000)
    packs = sorted((p for p in ctx.store.packs.values() if p.public or not public_only),
                   key=lambda p: -p.id)[offset:offset + limit]
    return Reply(200, [pack_json(ctx.store, p) for p in packs])


def list_packs(ctx: Ctx) -> Reply:
    """GET /packs: the seeded packs are the fake user's own, as are those it created."""
    return _list(ctx, public_only=False)


def list_gallery_packs(ctx: Ctx) -> Reply:
    """GET /gallery/packs: the public ones (the seeded packs)."""
    return _list(ctx, public_only=True)


def post_pack(ctx: Ctx) -> Reply:
    """POST /packs ``{"pack": {title, base_tune_id, model_type, subtitle}}`` (API notes §8.4)."""
    store = ctx.store
    attrs = cast(ctx.root("pack"))
    title = attrs.get("title")
    if not isinstance(title, str) or not title.strip():
        raise unprocessable("Title can't be blank")
    base_id = attrs.get("base_tune_id")
    base = store.tunes.get(base_id) if base_id is not None else None
    if base is None or not base.gallery:
        raise unprocessable("base_tune_id must be a gallery model (e.g. 1504944 Flux1.dev)")
    model_type = attrs.get("model_type") or None
    if model_type not in (None, "lora", "pti", "faceid"):
        raise unprocessable("model_type must be one of: lora, pti, faceid")
    subtitle = attrs.get("subtitle")
    pack_id = store.next_id("pack")
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "pack"
    if any(p.slug == slug for p in store.packs.values()):
        slug = f"{slug}-{pack_id}"
    store.packs[pack_id] = Pack(
        id=pack_id, slug=slug, title=title.strip(),
        subtitle=subtitle if isinstance(subtitle, str) else "", base_tune_id=base.id,
        model_type=model_type, classes=("man", "woman"), templates=(), public=False,
        created=ctx.now,
    )
    return Reply(201, pack_json(store, store.packs[pack_id], detail=True))


def get_pack(ctx: Ctx) -> Reply:
    """GET /p/:id_or_slug."""
    return Reply(200, pack_json(ctx.store, find_pack(ctx.store, ctx.params[0]), detail=True))


def render(store: Store, text: str, tunes: list[TuneRec]) -> str:
    """Expand ``{ref}``/``{token}``/``{name}`` (1-based ``{ref2}`` for multi packs)."""
    def expand(match: re.Match[str]) -> str:
        kind, index = match.group(1), int(match.group(2) or 1) - 1
        tune = tunes[min(index, len(tunes) - 1)]
        if kind == "ref":
            _, token = inference_target(store, tune)
            return token.format(weight=1) if token else ""
        return str(tune.attrs.get(kind) or "")
    return " ".join(_PLACEHOLDER.sub(expand, text).split())


def _ids(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [] if value in (None, "") else [value]
    try:
        return [int(str(item)) for item in items]
    except ValueError:
        raise unprocessable("ids must be integers") from None


def _prompt_attrs(pack: Pack, template: Template, text: str,
                  overrides: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"text": text, "num_images": template.num_images}
    attrs.update(overrides)
    attrs.update(base_pack_id=pack.id, orig_prompt_id=template.id)
    return attrs


def run_pack(ctx: Ctx) -> Reply:
    """POST /p/:pack_id/tunes: train-and-run, or run on ``tune_ids`` (three answer shapes)."""
    store = ctx.store
    pack = find_pack(store, ctx.params[0])
    attrs = ctx.root("tune")
    overrides = attrs.get("prompt_attributes") or {}
    if not isinstance(overrides, dict):
        raise unprocessable("prompt_attributes must be an object")
    overrides = cast(overrides)
    wanted = _ids(attrs.get("prompt_ids", ctx.body.get("prompt_ids")))
    chosen = [t for t in templates(store, pack) if not wanted or t.id in wanted]
    if not chosen:
        raise unprocessable("prompt_ids do not belong to this pack")
    tune_ids = _ids(attrs.get("tune_ids", ctx.body.get("tune_ids")))
    if pack.multi and not tune_ids:
        raise unprocessable("tune_ids are required for this pack")
    created: list[int] = []
    new_tune: TuneRec | None = None
    try:
        if tune_ids:
            tunes = [store.tunes.get(i) for i in tune_ids]
            found = [t for t in tunes if t is not None and not t.gallery]
            if len(found) != len(tunes):
                raise unprocessable("tune_ids must reference your tunes")
            reply = _run_existing(ctx, pack, chosen, found, overrides, created)
        else:
            name = str(attrs.get("name") or "")
            if name and name not in pack.classes:  # a blank name fails like POST /tunes
                raise unprocessable(f"Name must be one of: {', '.join(pack.classes)}")
            tune, is_new = create_tune(ctx, attrs, pack=pack)
            if is_new:  # an idempotent replay creates nothing (API notes §14)
                new_tune = tune
                for template in chosen:
                    text = render(store, template.text, [tune])
                    created.append(run_on_tune(ctx, tune,
                                               _prompt_attrs(pack, template, text, overrides)))
            reply = Reply(201, tune_json(store, tune, ctx.now, with_prompts=True))
    except HttpError:
        rollback(store, created, new_tune)
        raise
    store.add_group(attrs.get("prompts_callback"), created)
    return reply


def _run_existing(ctx: Ctx, pack: Pack, chosen: list[Template], tunes: list[TuneRec],
                  overrides: dict[str, Any], created: list[int]) -> Reply:
    store = ctx.store
    if not pack.multi:
        for tune in tunes:
            for template in chosen:
                text = render(store, template.text, [tune])
                created.append(run_on_tune(ctx, tune,
                                           _prompt_attrs(pack, template, text, overrides)))
        return Reply(201, {"status": 201, "message": "Prompts created"})
    order_id = store.next_id("order")
    base = store.tunes[pack.base_tune_id]
    for template in chosen:
        attrs = _prompt_attrs(pack, template, render(store, template.text, tunes), overrides)
        attrs["order_id"] = order_id
        prompt, _ = create_prompt(ctx, base, attrs, workspace=ctx.home())
        created.append(prompt.id)
    return Reply(201, {"status": 201, "order": {"id": order_id, "tune_ids": [t.id for t in tunes]},
                       "prompt_ids": created})
