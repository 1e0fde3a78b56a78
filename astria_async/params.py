"""Local validation of Astria request parameters: bad input fails here, before any request."""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from ._validators import (
    Checker,
    boolean,
    characteristics,
    choice,
    data_url,
    each,
    fail,
    file_input,
    integer,
    nonblank,
    number,
    one_of,
    positive,
    seq,
    string,
    unset,
    url,
    urls,
)
from .errors import InvalidParamsError

__all__ = ["FileInput", "PackTuneParams", "PromptParams", "TuneParams", "url",
           "validate_update"]

FileInput: TypeAlias = os.PathLike[str] | str | bytes | typing.BinaryIO

# --- the rule tables (field -> checker, then the cross-field rules) ------------------------

PROMPT_FIELDS: dict[str, Checker] = {  # §5.1
    **each("text video_model video_upscale_model video_fps_model", nonblank),
    **each("negative_prompt theme video_prompt", string),
    **each(
        "callback input_image_url mask_image_url video_first_frame_url video_last_frame_url"
        " source_image_url input_video_url audio_reference_url",
        url,
    ),
    **each(
        "community super_resolution inpaint_faces hires_fix face_correct face_swap film_grain"
        " prompt_expansion use_lpw controlnet_txt2img video_audio",
        boolean,
    ),
    **each("workspace_id pack_id base_pack_id video_duration", positive),
    **each("w h", integer(lo=8, multiple_of=8)),
    **each("denoising_strength controlnet_conditioning_scale", number(0, 1)),
    "num_images": integer(1, 8),
    "seed": integer(0, 2**32),
    "cfg_scale": number(0, 15),
    "steps": integer(0, 50),
    "lora_scale": number(),
    "backend_version": one_of(1, "1"),
    "color_grading": choice("Film Velvia|Film Portra|Ektar"),
    "style": choice(
        "Cinematic|Animated|Digital Art|Photographic|Fantasy art|Neonpunk|Enhance|Comic book"
        "|Lowpoly|Line art"
    ),
    "scheduler": choice("euler|euler_a|dpm++2m_karras|dpm++sde_karras|dpm++2m|dpm++sde|lcm|tcd"),
    "aspect_ratio": choice("1:1|16:9|9:16|21:9|9:21|3:2|2:3|5:4|4:5|4:3|3:4"),
    "ar": choice("1:1|portrait|16:9|landscape|anamorphic"),
    "resolution": choice("1K|2K|4K"),
    "controlnet": choice(
        "composition|reference|segroom|ipadapter|lineart|canny|depth|mlsd|hed|pose|tile|qr"
        "|relight|style|pose_with_hand|pose_with_face|pose_face_and_hand"
    ),
    "video_upscale_target_resolution": choice("720p|1080p|2k|4k"),
    "input_image": file_input("input_image_url"),
    "input_image_base64": data_url,
    "mask_image": file_input("mask_image_url"),
    "image_reference_urls": urls,
}

# §5.1: at most one option of each group may be set ("use either w/h or aspect_ratio").
PROMPT_EXCLUSIVE: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("input_image",), ("input_image_url",), ("input_image_base64",)),
    (("mask_image",), ("mask_image_url",)),
    (("w", "h"), ("aspect_ratio",)),
)

_INPUT_IMAGE = ("input_image", "input_image_url", "input_image_base64")
_NEEDS_INPUT = "needs an input image (input_image, input_image_url or input_image_base64)"

# §5.1: when `field` is on, one of `needs` must be on too.
PROMPT_NEEDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("controlnet", _INPUT_IMAGE, _NEEDS_INPUT),
    ("mask_image", _INPUT_IMAGE, _NEEDS_INPUT),
    ("mask_image_url", _INPUT_IMAGE, _NEEDS_INPUT),
    ("inpaint_faces", ("super_resolution",), "needs super_resolution=True"),
    ("hires_fix", ("super_resolution",), "needs super_resolution=True"),
)

_TUNE_COMMON: dict[str, Checker] = {  # §3.4, shared with §8.3
    **each("title name", nonblank),
    "callback": url,
    "images": seq(file_input("image_urls"), "files"),
    "image_urls": urls,
    "characteristics": characteristics,
    "preset": choice("flux-lora-focus|flux-lora-portrait|flux-lora-fast"),
}

TUNE_FIELDS: dict[str, Checker] = {  # §3.4
    **_TUNE_COMMON,
    **each("base_tune_id steps", positive),
    **each("face_crop training_face_correct auto_extend", boolean),
    "branch": choice("sd15|sdxl1|flux1|fast"),
    "model_type": choice("lora|pti|faceid"),
    "token": nonblank,
}

PACK_TUNE_FIELDS: dict[str, Checker] = {  # §8.3
    **_TUNE_COMMON,
    **each("tune_ids prompt_ids", seq(positive, "positive integer ids")),
    "prompts_callback": url,
    "brief": nonblank,
}

# §3.5: the fields PATCH /tunes/:id is known to take.
UPDATE_FIELDS = {k: TUNE_FIELDS[k] for k in ("title", "name", "auto_extend", "characteristics")}


def _check(
    table: Mapping[str, Checker], values: Mapping[str, Any], required: Sequence[str] = ()
) -> dict[str, Any]:
    """Refuse missing `required` fields, check every set one by its row; the wire dict."""
    for field in required:
        if unset(value := values[field]):
            fail(field, "is required" if value is None else f"must not be empty, got {value!r}")
    out = {k: check(k, values[k]) for k, check in table.items() if not unset(values[k])}
    return {k: v for k, v in out.items() if v != ""}  # negative_prompt="" and the like


def _merge_extra(payload: dict[str, Any], extra: Any, named: Mapping[str, Any]) -> dict[str, Any]:
    """Add the unvalidated pass-through params, refusing keys that clash with a set field."""
    if not isinstance(extra, Mapping):
        fail("extra", f"must be a mapping of API parameter to value, got {extra!r}")
    for key, value in extra.items():
        if not isinstance(key, str) or not key:
            fail("extra", f"keys must be non-empty strings, got {key!r}")
        if key in payload or not unset(named.get(key)):
            fail(f"extra.{key}", f"{key} is also set as a named parameter; set it only once")
        payload[key] = value
    return payload


def _values(obj: Any) -> dict[str, Any]:
    """The attrs fields of obj, minus `extra`."""
    return {f.name: getattr(obj, f.name) for f in attrs.fields(type(obj)) if f.name != "extra"}


@attrs.frozen(kw_only=True)
class PromptParams:
    """The attrs form of a prompt: for prompt create, a tune's prompts, and batch files."""

    text: str | None = None
    negative_prompt: str | None = None
    callback: str | None = None
    num_images: int | None = None
    seed: int | None = None
    workspace_id: int | None = None
    community: bool | None = None
    super_resolution: bool | None = None
    inpaint_faces: bool | None = None
    hires_fix: bool | None = None
    face_correct: bool | None = None
    face_swap: bool | None = None
    film_grain: bool | None = None
    prompt_expansion: bool | None = None
    use_lpw: bool | None = None
    controlnet_txt2img: bool | None = None
    color_grading: str | None = None
    style: str | None = None
    theme: str | None = None
    cfg_scale: float | None = None
    steps: int | None = None
    scheduler: str | None = None
    backend_version: int | str | None = None
    w: int | None = None
    h: int | None = None
    aspect_ratio: str | None = None
    ar: str | None = None
    resolution: str | None = None
    controlnet: str | None = None
    denoising_strength: float | None = None
    controlnet_conditioning_scale: float | None = None
    input_image: FileInput | None = None
    input_image_url: str | None = None
    input_image_base64: str | None = None
    mask_image: FileInput | None = None
    mask_image_url: str | None = None
    lora_scale: float | None = None
    pack_id: int | None = None
    base_pack_id: int | None = None
    video_model: str | None = None
    video_prompt: str | None = None
    video_first_frame_url: str | None = None
    video_last_frame_url: str | None = None
    source_image_url: str | None = None
    input_video_url: str | None = None
    audio_reference_url: str | None = None
    video_upscale_model: str | None = None
    video_upscale_target_resolution: str | None = None
    video_fps_model: str | None = None
    video_duration: int | None = None
    video_audio: bool | None = None
    image_reference_urls: tuple[str, ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    def validate(self, *, nested: bool = False, require_text: bool = True) -> None:
        """Raise InvalidParamsError on the first bad field; see to_payload for the flags."""
        self.to_payload(nested=nested, require_text=require_text)

    def to_payload(self, *, nested: bool = False, require_text: bool = True) -> dict[str, Any]:
        """Validate, then the wire dict of the set fields plus `extra`; files kept as given."""
        # nested: one of a tune's prompts (§3.4, lora_scale allowed). require_text=False: pack
        # overrides (§8.3), whose text and companion fields come from the pack's own prompts.
        values = _values(self)
        # §5.1: text is required, except for video prompts that start from a given first frame.
        if require_text and unset(self.text) and unset(self.video_first_frame_url):
            fail("text", "is required (unless video_first_frame_url is given)")
        out = _check(PROMPT_FIELDS, values)
        if "lora_scale" in out and not nested:
            fail("lora_scale", "lora_scale is only valid in a tune's prompts")
        for options in PROMPT_EXCLUSIVE:
            used = [o for o in options if any(f in out for f in o)]
            if len(used) > 1:
                names = ["/".join(o) for o in options]
                allowed = f"{', '.join(names[:-1])} or {names[-1]}"
                fail(next(f for f in used[1] if f in out), f"use only one of {allowed}")
        # Pack overrides (require_text=False) meet their companions in the pack's own prompts.
        for field, needs, problem in PROMPT_NEEDS if require_text else ():
            if out.get(field) and not any(out.get(n) for n in needs):  # False needs nothing
                fail(field, problem)
        return _merge_extra(out, self.extra, values)


def _nested(field: str, prompt: object, **options: bool) -> dict[str, Any]:
    """The wire dict of a nested PromptParams, its errors named `field.<name>`."""
    if not isinstance(prompt, PromptParams):
        fail(field, f"must be a PromptParams, got {prompt!r}")
    try:
        return prompt.to_payload(**options)
    except InvalidParamsError as err:
        raise InvalidParamsError(f"{field}.{err.field}", err.problem) from None


def _need_images(out: Mapping[str, Any]) -> None:
    """A tune trains on images, given as files or URLs (§3.4)."""
    if "images" not in out and "image_urls" not in out:
        fail("images", "give at least one training image in images or image_urls")


@attrs.frozen(kw_only=True)
class TuneParams:
    """Parameters of POST /tunes (§3.4)."""

    title: str
    name: str
    images: Sequence[FileInput] = ()
    image_urls: Sequence[str] = ()
    branch: str | None = None
    callback: str | None = None
    base_tune_id: int | None = None
    model_type: str | None = None
    token: str | None = None
    steps: int | None = None
    face_crop: bool | None = None
    training_face_correct: bool | None = None
    preset: str | None = None
    characteristics: Mapping[str, str | int | float] | None = None
    auto_extend: bool | None = None
    prompts: Sequence[PromptParams] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    def validate(self) -> None:
        """Raise InvalidParamsError for the first bad field; prompt fields are `prompts[i].x`."""
        self.to_payload()

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the wire dict; prompts go out as `prompts_attributes` (§3.4)."""
        values = _values(self)
        out = _check(TUNE_FIELDS, values, required=("title", "name"))
        _need_images(out)
        prompts = seq(lambda f, p: _nested(f, p, nested=True), "PromptParams")
        if not unset(self.prompts):
            out["prompts_attributes"] = prompts("prompts", self.prompts)
        return _merge_extra(out, self.extra, values)


@attrs.frozen(kw_only=True)
class PackTuneParams:
    """Parameters of POST /p/:pack_id/tunes (§8.3)."""

    title: str
    name: str
    images: Sequence[FileInput] = ()
    image_urls: Sequence[str] = ()
    callback: str | None = None
    characteristics: Mapping[str, str | int | float] | None = None
    preset: str | None = None
    prompt_attributes: PromptParams | None = None
    prompts_callback: str | None = None
    tune_ids: Sequence[int] = ()
    prompt_ids: Sequence[int] = ()
    brief: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    def validate(self) -> None:
        """Raise InvalidParamsError for the first bad field; overrides are `prompt_attributes.x`."""
        self.to_payload()

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the wire dict; `prompt_attributes` is one object of overrides (§8.3)."""
        values = _values(self)
        out = _check(PACK_TUNE_FIELDS, values, required=("title", "name"))
        if "tune_ids" not in out:  # §8.3: tune_ids runs the pack on trained tunes, no images
            _need_images(out)
        if self.prompt_attributes is not None:
            # Overrides apply to the pack's own prompts, so they need no text of their own.
            wire = _nested("prompt_attributes", self.prompt_attributes, require_text=False)
            if wire:
                out["prompt_attributes"] = wire
        return _merge_extra(out, self.extra, values)


def validate_update(
    *,
    title: str | None = None,
    name: str | None = None,
    auto_extend: bool | None = None,
    characteristics: Mapping[str, str | int | float] | None = None,
) -> dict[str, Any]:
    """Check the fields of PATCH /tunes/:id (§3.5); the wire dict of those given."""
    values: dict[str, Any] = {"title": title, "name": name, "auto_extend": auto_extend}
    values["characteristics"] = characteristics
    given = tuple(k for k, v in values.items() if v is not None)
    if not given:
        fail("tune", "give at least one of title, name, auto_extend, characteristics")
    # Every given field is required, so characteristics={} is refused rather than skipped.
    return _check(UPDATE_FIELDS, values, required=given)
