"""The ``GET /cli/models`` catalogue: image models by name and video models (API notes §10.6)."""

from __future__ import annotations

from typing import Any

from ._seed import GEMINI_PRO, GPT_IMAGE_2, SEEDREAM_45, WAN_27

# Image models by the names Astria's CLI accepts for ``--model`` (API notes §1.4).
CLI_MODELS: dict[str, dict[str, Any]] = {
    "gemini": {"tune_id": GEMINI_PRO, "title": "Gemini 3 Pro Image (Nano Banana Pro)",
               "resolutions": ["1K", "2K", "4K"], "default": True, "max_num_images": 8},
    "seedream": {"tune_id": SEEDREAM_45, "title": "Seedream 4.5", "resolutions": [],
                 "max_num_images": 4},
    "gpt-image-2": {"tune_id": GPT_IMAGE_2, "title": "GPT Image 2",
                    "resolutions": ["1K", "2K"], "max_num_images": 8},
    "wan-2-7": {"tune_id": WAN_27, "title": "Wan 2.7", "resolutions": ["1K", "2K"],
                "max_num_images": 4},
}


def _video(title: str, durations: list[int], cost_mc_per_5s: int, *, first: bool = True,
           last: bool = False, refs: bool = False, audio_ref: bool = False,
           audio: bool = False, input_video: bool = False) -> dict[str, Any]:
    return {
        "title": title, "durations": durations, "cost_mc_per_5s": cost_mc_per_5s,
        "supports_first_frame": first, "supports_last_frame": last,
        "supports_image_references": refs, "supports_audio_reference": audio_ref,
        "generates_audio": audio, "requires_input_video": input_video,
    }


# Capability flags are the ones Astria's CLI reads for its --help text.
VIDEO_MODELS: dict[str, dict[str, Any]] = {
    "seedance2_fast_480p": _video("Seedance 2 Fast 480p", [5, 10], 10_000, last=True, refs=True,
                                  audio_ref=True, audio=True),
    "seedance2_fast_720p": _video("Seedance 2 Fast 720p", [5, 10], 20_000, last=True, refs=True,
                                  audio_ref=True, audio=True),
    "seedance2_pro_1080p": _video("Seedance 2 Pro 1080p", [5, 10], 120_000, last=True,
                                  refs=True, audio_ref=True, audio=True),
    "kling25_turbo_pro": _video("Kling 2.5 Turbo Pro", [5, 10], 35_000, last=True),
    "veo31_fast": _video("Veo 3.1 Fast", [4, 6, 8], 75_000, audio=True),
    "wan2x_i2v": _video("Wan 2.x image to video", [5], 25_000),
    "dreamactor_m2": _video("DreamActor M2 (motion control)", [5, 10], 50_000,
                            input_video=True),
}
DEFAULT_VIDEO_MODEL = "seedance2_fast_720p"


def catalogue() -> dict[str, Any]:
    """The catalogue body; no ``cli`` block, so the official CLI never tries to self-upgrade."""
    return {
        "default": "gemini", "default_video_model": DEFAULT_VIDEO_MODEL,
        "models": CLI_MODELS, "video_models": VIDEO_MODELS, "skills": {}, "cache_ttl": 86400,
    }
