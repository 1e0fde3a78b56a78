"""Model-family rules (API notes §5.1, §7) checked before sending, when the target is known.

These are the 422s real integrations hit most: Flux refuses `negative_prompt` and a
`cfg_scale` of 5 or more, Seedream makes at most 4 images, and Seedance 2 videos start either
from first/last frames or from reference media, never both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._config import FLUX_MAX_CFG, FLUX_TUNE_IDS, SEEDREAM_MAX_IMAGES, SEEDREAM_TUNE_IDS
from ._validators import fail

_FRAMES = ("video_first_frame", "video_first_frame_url", "video_last_frame",
           "video_last_frame_url")
_REFERENCES = ("image_references", "image_reference_urls", "input_video", "input_video_url",
               "audio_reference", "audio_reference_url")


def family(tune_id: int | None, *, branch: str | None = None,
           name: str | None = None) -> str | None:
    """"flux", "seedream" or None (not known) for a prompt's target."""
    if (name or "").lower().startswith("seedream") or tune_id in SEEDREAM_TUNE_IDS:
        return "seedream"
    if branch == "flux1" or (name or "").lower().startswith("flux") or tune_id in FLUX_TUNE_IDS:
        return "flux"
    return None


def check_family(payload: Mapping[str, Any], *, tune_id: int | None, branch: str | None = None,
                 name: str | None = None, where: str = "") -> None:
    """Refuse what the target model family is known to reject; `where` prefixes field names
    (`prompts[0].`)."""
    kind = family(tune_id, branch=branch, name=name)
    label = f"{name or kind} (tune {tune_id})" if tune_id else f"{name or kind}"
    if kind == "flux":
        if payload.get("negative_prompt"):
            fail(f"{where}negative_prompt", f"is not supported on Flux models like {label}; "
                                            "describe what you want instead")
        cfg = payload.get("cfg_scale")
        if cfg is not None and cfg >= FLUX_MAX_CFG:
            fail(f"{where}cfg_scale", f"must be below {FLUX_MAX_CFG} on Flux models like "
                                      f"{label}, got {cfg!r}")
    elif kind == "seedream":
        count = payload.get("num_images")
        if count is not None and count > SEEDREAM_MAX_IMAGES:
            fail(f"{where}num_images", f"must be 1 to {SEEDREAM_MAX_IMAGES} on Seedream models "
                                       f"like {label}, got {count!r}")
    video = str(payload.get("video_model") or "")
    if video.lower().startswith("seedance2"):
        frames = [f for f in _FRAMES if payload.get(f)]
        refs = [f for f in _REFERENCES if payload.get(f)]
        if frames and refs:
            fail(f"{where}{refs[0]}", f"cannot be combined with {frames[0]} on {video}: "
                                      "Seedance 2 starts from first/last frames or from "
                                      "reference media, not both")
