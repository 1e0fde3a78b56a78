"""Image and direct-upload routes (API notes §4 images)."""

from __future__ import annotations

import functools
import re
import secrets
from pathlib import Path

from ._png import png_of_size, result_png
from ._render import iso
from ._wire import Ctx, Reply, not_found

_COVER = re.compile(r"^pack-\d+-cover$")
_VIDEO = Path(__file__).parent / "samples" / "clip.mp4"


@functools.lru_cache(maxsize=1)
def sample_video() -> bytes:
    """A 1-second 64×64 H.264 MP4 (about 6 KB) standing in for every video result."""
    return _VIDEO.read_bytes()


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
    if ready and owner is not None and owner.attrs.get("video_model"):
        return Reply(200, data=sample_video(), content_type="video/mp4")
    if ready and owner is not None:
        data = result_png(store.config.image_bytes, owner.id, owner.images.index(token))
        return Reply(200, data=data, content_type="image/png")
    if _COVER.match(token):
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
