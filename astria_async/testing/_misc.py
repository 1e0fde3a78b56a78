"""Account, workspace, model-catalogue, image and direct-upload routes (§10, §4 images)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from ._png import png_of_size
from ._render import iso
from ._seed import CLI_MODELS
from ._wire import Ctx, Reply, not_found, unprocessable

_COVER = re.compile(r"^pack-\d+-cover$")


def get_user(ctx: Ctx) -> Reply:
    """GET /users: the account behind the key (§10.1); the balance follows spending."""
    store = ctx.store
    return Reply(200, {
        "id": store.config.user_id, "name": "Fake Astria User", "email": "fake@example.com",
        "usd_balance_mc": store.balance_mc, "auto_extend_tunes": False, "top_off_amount": None,
        "purchased_plugin_at": None,
    })


def cli_models(ctx: Ctx) -> Reply:
    """GET /cli/models: the unauthenticated catalogue Astria's CLI reads (§10.6)."""
    return Reply(200, {"default": "gemini", "default_video_model": None, "models": CLI_MODELS,
                       "video_models": {}, "cache_ttl": 86400})


def _workspace(ctx: Ctx, workspace_id: str) -> dict[str, Any]:
    found = ctx.store.workspaces.get(workspace_id)
    if found is None:
        raise not_found()
    return found


def list_workspaces(ctx: Ctx) -> Reply:
    """GET /workspaces: those created here plus any id seen in X-Workspace-Id."""
    return Reply(200, list(ctx.store.workspaces.values()))


def post_workspace(ctx: Ctx) -> Reply:
    """POST /workspaces ``{"workspace": {"title"}}``."""
    attrs = ctx.root("workspace")
    title = str(attrs.get("title") or "").strip()
    if not title:
        raise unprocessable("Title can't be blank")
    workspace_id = str(9000 + len(ctx.store.workspaces) + 1)
    return Reply(201, remember_workspace(ctx, workspace_id, title))


def remember_workspace(ctx: Ctx, workspace_id: str, title: str | None = None) -> dict[str, Any]:
    """Record a workspace the first time it is named."""
    workspaces = ctx.store.workspaces
    if workspace_id not in workspaces:
        slug = re.sub(r"[^a-z0-9]+", "-", (title or workspace_id).lower()).strip("-")
        workspaces[workspace_id] = {
            "id": int(workspace_id) if workspace_id.isdigit() else workspace_id,
            "title": title or f"Workspace {workspace_id}", "slug": slug, "brief": None,
            "landing_page_html": None, "created_at": iso(ctx.now),
        }
    return workspaces[workspace_id]


def get_workspace(ctx: Ctx) -> Reply:
    """GET /workspaces/:id."""
    return Reply(200, _workspace(ctx, ctx.params[0]))


def patch_workspace(ctx: Ctx) -> Reply:
    """PATCH /workspaces/:id (title, brief, landing_page_html)."""
    found = _workspace(ctx, ctx.params[0])
    changes = ctx.root("workspace")
    for key in ("title", "brief", "landing_page_html"):
        if key in changes:
            found[key] = changes[key]
    return Reply(200, found)


def get_image(ctx: Ctx) -> Reply:
    """GET /mp/<token>[/mock]: uploads as stored, results as PNG once their prompt is done."""
    store = ctx.store
    token = ctx.params[0]
    blob = store.blobs.get(token)
    if blob is not None:
        data = blob.data if blob.data is not None else png_of_size(store.config.image_bytes)
        return Reply(200, data=data, content_type=blob.content_type)
    owner = store.prompts.get(store.image_owner.get(token, -1))
    # A result URL answers only while its prompt exists and finished without error.
    ready = owner is not None and owner.user_error is None and store.is_done(owner, ctx.now)
    if ready or _COVER.match(token):
        return Reply(200, data=png_of_size(store.config.image_bytes), content_type="image/png")
    raise not_found()


def post_direct_upload(ctx: Ctx) -> Reply:
    """POST /api/direct_uploads: Active Storage's first step, used by Astria's CLI."""
    blob = ctx.root("blob")
    content_type = str(blob.get("content_type") or "application/octet-stream")
    token = ctx.store.add_blob(b"", content_type, None)
    signed_id = f"signed-{secrets.token_hex(12)}"
    ctx.store.signed_ids[signed_id] = token
    return Reply(200, {
        "id": len(ctx.store.signed_ids), "key": token, "filename": blob.get("filename"),
        "content_type": content_type, "byte_size": blob.get("byte_size"),
        "checksum": blob.get("checksum"), "signed_id": signed_id,
        "created_at": iso(ctx.now),
        "direct_upload": {
            "url": ctx.store.url(f"/rails/active_storage/disk/{token}"),
            "headers": {"Content-Type": content_type},
        },
        "public_url": ctx.store.url(f"/mp/{token}"),
    })


def put_direct_upload(ctx: Ctx) -> Reply:
    """PUT /rails/active_storage/disk/<token>: the upload's bytes."""
    blob = ctx.store.blobs.get(ctx.params[0])
    if blob is None:
        raise not_found()
    blob.data = ctx.raw
    return Reply(204, data=b"", content_type="")
