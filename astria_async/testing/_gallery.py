"""The public feed ``GET /gallery.json`` and image inspection (API notes §5.3, §9)."""

from __future__ import annotations

import hashlib

from ._rails import UploadedFile
from ._render import prompt_json
from ._wire import Ctx, Reply, unprocessable


def gallery_feed(ctx: Ctx) -> Reply:
    """GET /gallery.json?offset=&limit=: finished prompts published with ``community=true``."""
    before_id, offset, limit = ctx.paging(max_offset=10_000)
    store = ctx.store
    shown = []
    skipped = 0
    for prompt in store.newest_first():
        if not prompt.attrs.get("community") or prompt.user_error is not None:
            continue
        if not store.is_done(prompt, ctx.now) or (before_id is not None
                                                   and prompt.id >= before_id):
            continue
        if skipped < offset:
            skipped += 1
            continue
        shown.append(prompt_json(store, prompt, ctx.now))
        if len(shown) >= limit:
            break
    return Reply(200, shown)


_HAIR = ("black", "brown", "blonde", "red", "grey")
_EYES = ("brown", "blue", "green", "hazel")
_AGES = ("20-30", "30-40", "40-50")


def inspect_image(ctx: Ctx) -> Reply:
    """POST /images/inspect: multipart ``name`` plus ``file`` or ``file_url`` (API notes §9).

    The attributes are derived from the file's bytes (or the URL), so the same
    picture always gets the same answer and different pictures may differ.
    """
    body = ctx.body
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise unprocessable("name is required (the class, e.g. man, woman, dress)")
    upload, url = body.get("file"), body.get("file_url")
    if isinstance(upload, UploadedFile):
        seed = upload.data
    elif isinstance(url, str) and url.startswith(("http://", "https://")):
        seed = url.encode()
    else:
        raise unprocessable("send a file or a file_url")
    digest = hashlib.sha256(seed).digest()
    human = name.strip() in ("man", "woman", "boy", "girl", "person")

    def pick(options: tuple[str, ...], byte: int) -> str:
        return options[digest[byte] % len(options)] if human else ""

    return Reply(200, {
        "name": name.strip(), "body_type": pick(("slim", "average", "athletic"), 0),
        "ethnicity": pick(("NONE",), 1), "age": pick(_AGES, 2),
        "glasses": pick(("NONE", "NONE", "reading glasses"), 3),
        "eye_color": pick(_EYES, 4), "hair_color": pick(_HAIR, 5),
        "hair_length": pick(("short", "medium", "long"), 6),
        "hair_style": pick(("straight", "wavy", "curly"), 7),
        "facial_hair": pick(("NONE", "stubble", "beard"), 8) if name == "man" else "NONE",
        "is_bald": "NONE", "headcover": "NONE",
        "funny_face": False, "wearing_sunglasses": False, "wearing_hat": False,
        "blurry": digest[9] % 10 == 0, "includes_multiple_people": False,
        "full_body_image_or_longshot": digest[10] % 4 == 0, "selfie": digest[11] % 3 == 0,
        "low_resolution": len(seed) < 2048 and isinstance(upload, UploadedFile),
        "low_quality": False,
    })
