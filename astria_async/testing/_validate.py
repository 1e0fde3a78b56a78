"""Type casting and the API's 422 rules, written independently of astria_async.params."""

from __future__ import annotations

import json
import re
from typing import Any

from ._catalog import VIDEO_MODELS
from ._rails import UploadedFile
from ._wire import HttpError, unprocessable

BRANCHES = ("sd15", "sdxl1", "flux1", "fast", "gemini-2")
MODEL_TYPES = ("lora", "pti", "faceid")
PRESETS = ("flux-lora-focus", "flux-lora-portrait", "flux-lora-fast")
SCHEDULERS = ("euler", "euler_a", "dpm++2m_karras", "dpm++sde_karras", "dpm++2m", "dpm++sde",
              "lcm", "tcd")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "21:9", "9:21", "3:2", "2:3", "5:4", "4:5", "4:3", "3:4")
RESOLUTIONS = ("1K", "2K", "4K")

INT_FIELDS = frozenset({
    "num_images", "steps", "seed", "w", "h", "base_tune_id", "workspace_id", "pack_id",
    "base_pack_id", "order_id", "orig_prompt_id", "backend_version", "video_duration",
})
FLOAT_FIELDS = frozenset({
    "cfg_scale", "denoising_strength", "controlnet_conditioning_scale", "lora_scale",
})
BOOL_FIELDS = frozenset({
    "super_resolution", "inpaint_faces", "hires_fix", "face_correct", "face_swap", "film_grain",
    "prompt_expansion", "use_lpw", "controlnet_txt2img", "community", "only_upscale",
    "tiled_upscale", "is_multiperson", "face_crop", "training_face_correct", "auto_extend",
    "video_audio", "generate_audio",
})
_TRUE = {"true", "1", "t", "on", "yes"}
_FALSE = {"false", "0", "f", "off", "no"}


def cast(attrs: dict[str, Any]) -> dict[str, Any]:
    """Cast multipart strings the way Rails' attribute types would; blank numbers → None."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, (dict, list, UploadedFile)) or value is None:
            out[key] = value
        elif key in INT_FIELDS:
            out[key] = _number(key, value, integer=True)
        elif key in FLOAT_FIELDS:
            out[key] = _number(key, value, integer=False)
        elif key in BOOL_FIELDS:
            out[key] = _boolean(key, value)
        else:
            out[key] = value
    return out


def _number(key: str, value: Any, *, integer: bool) -> int | float | None:
    if isinstance(value, bool):
        raise unprocessable(f"{key} is not a number")
    if isinstance(value, (int, float)):
        return int(value) if integer else float(value)
    text = str(value).strip()
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        raise unprocessable(f"{key} is not a number") from None
    if integer and not number.is_integer():
        raise unprocessable(f"{key} must be an integer")
    return int(number) if integer else number


def _boolean(key: str, value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise unprocessable(f"{key} must be true or false")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _one_of(attrs: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
    value = attrs.get(key)
    if not _blank(value) and value not in allowed:
        raise unprocessable(f"{key} must be one of: {', '.join(allowed)}")


def _between(attrs: dict[str, Any], key: str, low: float, high: float) -> None:
    value = attrs.get(key)
    if value is not None and not low <= value <= high:
        raise unprocessable(f"{key} must be between {low:g} and {high:g}")


def characteristics(value: Any) -> dict[str, Any] | None:
    """Accept a hash or the CLI's JSON string (API notes §3.4)."""
    if _blank(value):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise unprocessable("characteristics must be a JSON object") from None
    if not isinstance(value, dict):
        raise unprocessable("characteristics must be a JSON object")
    return {str(k): v for k, v in value.items()}


def validate_tune(attrs: dict[str, Any], *, need_images: bool = True) -> None:
    """The API notes §3.4 rules that answer 422."""
    if _blank(attrs.get("title")):
        raise unprocessable("Title can't be blank")
    if _blank(attrs.get("name")):
        raise unprocessable("Name can't be blank")
    _one_of(attrs, "branch", BRANCHES)
    _one_of(attrs, "model_type", MODEL_TYPES)
    _one_of(attrs, "preset", PRESETS)
    images, urls = attrs.get("images") or [], attrs.get("image_urls") or []
    if need_images and not images and not urls:
        raise unprocessable("Images can't be blank: send images[] or image_urls[]")
    for url in urls:
        # Astria fetches each URL; non-ASCII ones fail to download (API notes §3.4).
        if not isinstance(url, str) or not url.isascii() or not url.startswith(("http://", "https://")):
            raise unprocessable(f"could not download {url}")


# The video model families Astria serves (API notes §5.1, "about 45 ids"); the catalogue
# (GET /cli/models) lists a few of them, any id of these families is accepted.
VIDEO_MODEL_RE = re.compile(
    r"^(?:(?:seedance2?|wan2x|veo31|ltx23|happyhorse)_[a-z0-9_]+|kling[a-z0-9_]*|dreamactor_m2)$")
_FRAMES = ("video_first_frame", "video_first_frame_url", "video_last_frame",
           "video_last_frame_url")
_REFERENCE_MEDIA = ("image_references", "image_reference_urls", "input_video",
                    "input_video_url", "audio_reference", "audio_reference_url")


def _video_rules(attrs: dict[str, Any]) -> None:
    """A known video family; Seedance 2 starts from frames or from reference media, not both."""
    model = attrs.get("video_model")
    if _blank(model):
        return
    if not isinstance(model, str) or not VIDEO_MODEL_RE.match(model):
        raise unprocessable(f"video_model {model!r} is not a video model "
                            f"(e.g. {', '.join(VIDEO_MODELS)})")
    frames = [key for key in _FRAMES if not _blank(attrs.get(key)) and attrs.get(key) != []]
    media = [key for key in _REFERENCE_MEDIA
             if not _blank(attrs.get(key)) and attrs.get(key) != []]
    if model.startswith("seedance2") and frames and media:
        raise unprocessable(f"{media[0]} cannot be combined with {frames[0]} on {model}")


def validate_prompt(attrs: dict[str, Any], *, flux: bool, max_images: int = 8) -> None:
    """The API notes §5.1 rules; Flux violations answer a Rails field map (API notes §13)."""
    # A video's first frame is rendered from `text` unless given, or the video prompt says it.
    video = not _blank(attrs.get("video_model"))
    frame_given = not (_blank(attrs.get("video_first_frame"))
                       and _blank(attrs.get("video_first_frame_url")))
    if _blank(attrs.get("text")) and not frame_given and not (
            video and not _blank(attrs.get("video_prompt"))):
        raise unprocessable("Text can't be blank")
    _video_rules(attrs)
    _between(attrs, "num_images", 1, max_images)
    _between(attrs, "steps", 0, 50)
    _between(attrs, "cfg_scale", 0, 15)
    _between(attrs, "denoising_strength", 0, 1)
    _between(attrs, "controlnet_conditioning_scale", 0, 1)
    _between(attrs, "seed", 0, 2**32)
    _one_of(attrs, "scheduler", SCHEDULERS)
    _one_of(attrs, "aspect_ratio", ASPECT_RATIOS)
    _one_of(attrs, "resolution", RESOLUTIONS)
    for side in ("w", "h"):
        value = attrs.get(side)
        if value is not None and (value <= 0 or value % 8):
            raise unprocessable(f"{side} must be a positive multiple of 8")
    if flux:
        fields: dict[str, list[str]] = {}
        if not _blank(attrs.get("negative_prompt")):
            fields["negative_prompt"] = ["is not supported on Flux"]
        cfg = attrs.get("cfg_scale")
        if cfg is not None and cfg >= 5:
            fields["cfg_scale"] = ["must be less than 5"]
        if fields:
            raise HttpError(422, fields)
