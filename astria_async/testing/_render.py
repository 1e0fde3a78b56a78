"""JSON views of tunes and prompts, computed from the clock at read time (API notes §2, §4)."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any

from ._store import PromptRec, Store, TuneRec

THIRTY_DAYS = 30 * 86400.0
QUEUE_SECONDS = 2.0  # longest wait before training starts (a tenth of the training time)

TUNE_FIELDS = (
    "title", "name", "token", "callback", "branch", "model_type", "base_tune_id", "args", "steps",
    "face_crop", "training_face_correct", "characteristics", "auto_extend", "preset",
    "base_pack_id",
)
# Fields present on every prompt, with the values Astria shows when not sent (API notes §4).
PROMPT_DEFAULTS: dict[str, Any] = {
    "callback": None, "steps": None, "seed": None, "num_images": 1, "super_resolution": False,
    "inpaint_faces": False, "hires_fix": False, "face_correct": False, "face_swap": False,
    "film_grain": False, "prompt_expansion": False, "use_lpw": False, "only_upscale": False,
    "tiled_upscale": False, "is_multiperson": False, "controlnet_txt2img": False, "ar": "1:1",
    "aspect_ratio": None, "resolution": None, "w": None, "h": None, "scheduler": None,
    "style": None, "color_grading": None, "controlnet": None,
    "controlnet_conditioning_scale": None, "denoising_strength": None, "backend_version": None,
    "theme": None, "pack_id": None, "base_pack_id": None, "order_id": None,
    "orig_prompt_id": None, "input_image": None, "mask_image": None, "image_references": [],
}
_HIDDEN = frozenset({"workspace_id", "tune_id"})


@functools.lru_cache(maxsize=4096)  # the same few timestamps are printed on every poll
def iso(ts: float | None) -> str | None:
    """ISO-8601 with milliseconds and ``Z``, as Astria prints timestamps."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decimal(value: Any) -> str | None:
    # Rails serialises decimal columns as strings: cfg_scale 3 → "3.0" (API notes §4).
    return None if value is None else str(float(value))


def tune_json(
    store: Store, tune: TuneRec, now: float, *, with_prompts: bool = False,
) -> dict[str, Any]:
    """The tune object as GET /tunes/:id answers it at time ``now``."""
    due = store.trained_at(tune)
    trained = due if due is not None and due <= now else None
    # Training waits in a queue for a moment: create answers show null (API notes §2).
    started = None if due is None else tune.created + min(QUEUE_SECONDS,
                                                          (due - tune.created) / 10)
    body: dict[str, Any] = {"id": tune.id}
    body.update({key: tune.attrs.get(key) for key in TUNE_FIELDS})
    body.update({
        "is_api": not tune.gallery,
        "ckpt_url": None,
        "ckpt_urls": [],
        "eta": iso(due),
        "started_training_at": iso(started) if started is not None and started <= now else None,
        "trained_at": iso(trained),
        # Public gallery models never expire; user tunes 30 days after training (API notes §15).
        "expires_at": iso(trained + THIRTY_DAYS) if trained is not None and not tune.gallery
        else None,
        "created_at": iso(tune.created),
        "updated_at": iso(max(tune.updated, trained or 0.0)),
        "url": store.url(f"/tunes/{tune.id}.json"),
        "orig_images": [store.url(f"/mp/{token}") for token in tune.orig_images],
        "cost_mc": tune.cost_mc,
    })
    if with_prompts:
        # Only the create answer carries the prompts made with the tune (API notes §2 `prompts`).
        body["prompts"] = [prompt_json(store, store.prompts[i], now)
                           for i in tune.prompt_ids if i in store.prompts]
    return body


def ref_json(store: Store, tune_id: int) -> dict[str, Any]:
    """The short form of a referenced tune in a prompt's ``tunes`` array (API notes §4)."""
    tune = store.tunes.get(tune_id)
    if tune is None:
        return {"id": tune_id}
    keys = ("title", "name", "model_type", "branch", "token")
    return {"id": tune_id, **{key: tune.attrs.get(key) for key in keys}}


def prompt_json(store: Store, prompt: PromptRec, now: float,
                expand: tuple[str, ...] = ()) -> dict[str, Any]:
    """The prompt object at time ``now``: images and trained_at appear when it finishes.

    ``expand=("debug_images",)`` adds the intermediate images (API notes §4, §5.2).
    """
    start = store.prompt_start(prompt)
    done = store.prompt_done(prompt)
    finished = done is not None and done <= now
    if finished and prompt.user_error is None:
        prefix = "/mp/{}/mock" if prompt.mock else "/mp/{}"
        images = [store.url(prefix.format(token)) for token in prompt.images]
    else:
        images = []
    body: dict[str, Any] = {"id": prompt.id, "tune_id": prompt.tune_id, "text": None}
    body.update(PROMPT_DEFAULTS)
    body.update({k: v for k, v in prompt.attrs.items() if k not in _HIDDEN})
    body.update({
        "id": prompt.id,
        "tune_id": prompt.tune_id,
        "user_id": store.config.user_id,
        "text": prompt.attrs.get("text") or "",
        "negative_prompt": prompt.attrs.get("negative_prompt") or "",
        "cfg_scale": _decimal(prompt.attrs.get("cfg_scale")),
        "url": store.url(f"/tunes/{prompt.tune_id}/prompts/{prompt.id}.json"),
        "images": images,
        "user_error": prompt.user_error if finished else None,
        "started_training_at": iso(start) if start is not None and start <= now else None,
        "trained_at": iso(done) if finished else None,
        "created_at": iso(prompt.created),
        "updated_at": iso(max(prompt.updated, done) if finished and done is not None
                          else prompt.updated),
        "cost_mc": prompt.cost_mc,
        "tunes": [ref_json(store, tune_id) for tune_id in prompt.refs],
        "is_api": prompt.is_api,
        "liked": prompt.liked,
        "prompt_likes_count": int(prompt.liked),
    })
    if "debug_images" in expand:
        # The stages before the final pass; the fake's are the result images themselves.
        body["debug_images"] = list(images)
        body["debug_filenames"] = [f"{i:02d}-base.png" for i in range(len(images))]
        body["debug_content_types"] = ["image/png"] * len(images)
    return body
