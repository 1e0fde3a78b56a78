"""Local validation of Astria request parameters: bad input fails here, before any request."""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from ._fields_repr import fields_repr
from ._validators import (
    Checker,
    boolean,
    choice,
    data_url,
    fail,
    file_input,
    image_file,
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
from ._validators import (
    characteristics as characteristics_map,
)
from .errors import InvalidParamsError

__all__ = ["FileInput", "InspectParams", "PackParams", "PackTuneParams", "PromptParams",
           "PromptUpdateParams", "TuneParams", "WorkspaceParams", "url", "validate_update",
           "with_extra"]

FileInput: TypeAlias = os.PathLike[str] | str | bytes | typing.BinaryIO

def _items(value: Any) -> Any:
    """Lists become tuples (the params are frozen); anything else is left to the checker."""
    return tuple(value) if isinstance(value, list) else value


def _checked(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # Each field is checked when the object is built (PromptParams(cfg_scale=99) fails there);
    # the checks across fields run in to_payload.
    if not unset(value):
        attribute.metadata["check"](attribute.name, value)


def param(check: Checker, default: Any = None) -> Any:
    """An attrs field declared with its checker: the one place a parameter is described."""
    return attrs.field(default=default, metadata={"check": check}, converter=_items,
                       validator=_checked)


def _extra_mapping(value: Any) -> Any:
    return {} if value is None else dict(value) if isinstance(value, Mapping) else value


def _extra_checked(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Mapping):
        fail("extra", f"must be a mapping of API parameter to value, got {value!r}")
    for key in value:
        if not isinstance(key, str) or not key:
            fail("extra", f"keys must be non-empty strings, got {key!r}")


def extra_field() -> Any:
    """The `extra` pass-through of a params class: a mapping with string keys (None is {})."""
    return attrs.field(factory=dict, converter=_extra_mapping, validator=_extra_checked)


def with_extra(base: Mapping[str, Any], extra: Any) -> Any:
    """`extra` over `base` when it is a mapping; anything else is left for the check to refuse."""
    return {**base, **extra} if isinstance(extra, Mapping) else extra


def checks(cls: type[Any]) -> dict[str, Checker]:
    """The field -> checker table of a params class, derived from its field declarations."""
    return {f.name: f.metadata["check"] for f in attrs.fields(cls) if "check" in f.metadata}


_INPUT_IMAGE = ("input_image", "input_image_url", "input_image_base64")
_NEEDS_INPUT = "needs an input image (input_image, input_image_url or input_image_base64)"

# API notes §5.1: at most one option of each group may be set ("use either w/h or aspect_ratio").
PROMPT_EXCLUSIVE: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("input_image",), ("input_image_url",), ("input_image_base64",)),
    (("mask_image",), ("mask_image_url",)),
    (("w", "h"), ("aspect_ratio",)),
    (("video_first_frame",), ("video_first_frame_url",)),
    (("video_last_frame",), ("video_last_frame_url",)),
    (("input_video",), ("input_video_url",)),
    (("audio_reference",), ("audio_reference_url",)),
    # API notes §5.1: ordered references are all files or all URLs, never mixed.
    (("image_references",), ("image_reference_urls",)),
    # The official CLI's name and the documented one: one value, given once.
    (("video_audio",), ("generate_audio",)),
)

# API notes §5.1: what a prompt may start from instead of a text.
_TEXT_OPTIONAL = ("video_first_frame", "video_first_frame_url", "source_image_url")

# API notes §5.1: when `field` is on, one of `needs` must be on too.
PROMPT_NEEDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("controlnet", _INPUT_IMAGE, _NEEDS_INPUT),
    ("mask_image", _INPUT_IMAGE, _NEEDS_INPUT),
    ("mask_image_url", _INPUT_IMAGE, _NEEDS_INPUT),
    ("inpaint_faces", ("super_resolution",), "needs super_resolution=True"),
    ("hires_fix", ("super_resolution",), "needs super_resolution=True"),
)

_STYLES = ("Cinematic|Animated|Digital Art|Photographic|Fantasy art|Neonpunk|Enhance"
           "|Comic book|Lowpoly|Line art")
_SCHEDULERS = "euler|euler_a|dpm++2m_karras|dpm++sde_karras|dpm++2m|dpm++sde|lcm|tcd"
_CONTROLNETS = ("composition|reference|segroom|ipadapter|lineart|canny|depth|mlsd|hed|pose"
                "|tile|qr|relight|style|pose_with_hand|pose_with_face|pose_face_and_hand")
_PRESETS = "flux-lora-focus|flux-lora-portrait|flux-lora-fast"


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
    """The attrs form of a prompt (API notes §5.1): for prompt create, a tune's prompts, batch
    files and pack overrides. Each field is declared here once, with its check."""

    __repr__ = fields_repr

    text: str | None = param(nonblank)
    negative_prompt: str | None = param(string)
    callback: str | None = param(url)
    num_images: int | None = param(integer(1, 8))
    seed: int | None = param(integer(0, 2**32))
    workspace_id: int | None = param(positive)
    community: bool | None = param(boolean)
    super_resolution: bool | None = param(boolean)
    inpaint_faces: bool | None = param(boolean)
    hires_fix: bool | None = param(boolean)
    face_correct: bool | None = param(boolean)
    face_swap: bool | None = param(boolean)
    film_grain: bool | None = param(boolean)
    prompt_expansion: bool | None = param(boolean)
    use_lpw: bool | None = param(boolean)
    controlnet_txt2img: bool | None = param(boolean)
    color_grading: str | None = param(choice("Film Velvia|Film Portra|Ektar"))
    style: str | None = param(choice(_STYLES))
    theme: str | None = param(string)
    cfg_scale: float | None = param(number(0, 15))
    steps: int | None = param(integer(0, 50))
    scheduler: str | None = param(choice(_SCHEDULERS))
    backend_version: int | str | None = param(one_of(1, "1"))
    w: int | None = param(integer(lo=8, multiple_of=8))
    h: int | None = param(integer(lo=8, multiple_of=8))
    aspect_ratio: str | None = param(choice("1:1|16:9|9:16|21:9|9:21|3:2|2:3|5:4|4:5|4:3|3:4"))
    ar: str | None = param(choice("1:1|portrait|16:9|landscape|anamorphic"))
    resolution: str | None = param(choice("1K|2K|4K"))
    controlnet: str | None = param(choice(_CONTROLNETS))
    denoising_strength: float | None = param(number(0, 1))
    controlnet_conditioning_scale: float | None = param(number(0, 1))
    input_image: FileInput | None = param(file_input("input_image_url"))
    input_image_url: str | None = param(url)
    input_image_base64: str | None = param(data_url)
    mask_image: FileInput | None = param(file_input("mask_image_url"))
    mask_image_url: str | None = param(url)
    lora_scale: float | None = param(number())
    pack_id: int | None = param(positive)
    base_pack_id: int | None = param(positive)
    video_model: str | None = param(nonblank)
    video_prompt: str | None = param(string)
    video_first_frame: FileInput | None = param(file_input("video_first_frame_url"))
    video_first_frame_url: str | None = param(url)
    video_last_frame: FileInput | None = param(file_input("video_last_frame_url"))
    video_last_frame_url: str | None = param(url)
    source_image_url: str | None = param(url)
    input_video: FileInput | None = param(file_input("input_video_url"))
    input_video_url: str | None = param(url)
    audio_reference: FileInput | None = param(file_input("audio_reference_url"))
    audio_reference_url: str | None = param(url)
    video_upscale_model: str | None = param(nonblank)
    video_upscale_target_resolution: str | None = param(choice("720p|1080p|2k|4k"))
    video_fps_model: str | None = param(nonblank)
    video_duration: int | None = param(positive)
    video_audio: bool | None = param(boolean)
    # The official CLI's name for video_audio (API notes §5.1); sent as video_audio.
    generate_audio: bool | None = param(boolean)
    image_references: tuple[FileInput, ...] = param(
        seq(file_input("image_reference_urls"), "files"), default=())
    image_reference_urls: tuple[str, ...] = param(urls, default=())
    extra: Mapping[str, Any] = extra_field()

    def validate(self, *, nested: bool = False, require_text: bool = True) -> None:
        """Raise InvalidParamsError on the first bad field; see to_payload for the flags."""
        self.to_payload(nested=nested, require_text=require_text)

    def to_payload(self, *, nested: bool = False, require_text: bool = True) -> dict[str, Any]:
        """Validate, then the wire dict of the set fields plus `extra`; files kept as given."""
        # nested: one of a tune's prompts (API notes §3.4, lora_scale allowed).
        # require_text=False: pack overrides (API notes §8.3), whose text and companion fields
        # come from the pack's own prompts.
        values = _values(self)
        # API notes §5.1: text is required, except for video prompts that start from a given
        # first frame or source image.
        if require_text and unset(self.text) and all(unset(values[k]) for k in _TEXT_OPTIONAL):
            fail("text", "is required (unless video_first_frame, video_first_frame_url or "
                         "source_image_url is given)")
        out = _check(PROMPT_FIELDS, values)
        if "lora_scale" in out and not nested:
            fail("lora_scale", "lora_scale is only valid in a tune's prompts")
        for options in PROMPT_EXCLUSIVE:
            used = [o for o in options if any(f in out for f in o)]
            if len(used) > 1:
                names = ["/".join(o) for o in options]
                allowed = f"{', '.join(names[:-1])} or {names[-1]}"
                fail(next(f for f in used[1] if f in out), f"use only one of {allowed}")
        if "generate_audio" in out:
            out["video_audio"] = out.pop("generate_audio")
        # Pack overrides (require_text=False) meet their companions in the pack's own prompts.
        for field, needs, problem in PROMPT_NEEDS if require_text else ():
            if out.get(field) and not any(out.get(n) for n in needs):  # False needs nothing
                fail(field, problem)
        return _merge_extra(out, self.extra, values)


def tune_ref(field: str, value: Any) -> int | str:
    """A tune id, or the name of a catalogue model ("gemini", "seedream", "gpt-image-2")."""
    if isinstance(value, str):
        name = value.strip().lower()
        plain = name.replace("-", "").replace("_", "").replace(".", "")
        # An id typed as text is refused like any number given as a str.
        if not plain.isalnum() or name.isdigit():
            fail(field, f"must be a tune id (int) or a model name such as 'gemini', "
                        f"got {value!r}")
        return name
    return typing.cast(int, positive(field, value))


def _is_params(field: str, prompt: object) -> PromptParams:
    if not isinstance(prompt, PromptParams):
        fail(field, f"must be a PromptParams, got {prompt!r}")
    return prompt


_PROMPT_LIST = seq(_is_params, "PromptParams")


def _nested(field: str, prompt: object, **options: bool) -> dict[str, Any]:
    """The wire dict of a nested PromptParams, its errors named `field.<name>`."""
    prompt = _is_params(field, prompt)
    try:
        return prompt.to_payload(**options)
    except InvalidParamsError as err:
        raise InvalidParamsError(f"{field}.{err.field}", err.problem) from None


def _need_images(out: Mapping[str, Any]) -> None:
    """A tune trains on images, given as files or URLs (API notes §3.4)."""
    if "images" not in out and "image_urls" not in out:
        fail("images", "give at least one training image in images or image_urls")


@attrs.frozen(kw_only=True)
class _TuneCommon:
    """The fields POST /tunes (API notes §3.4) and POST /p/:pack_id/tunes (API notes §8.3) share."""

    __repr__ = fields_repr

    title: str = param(nonblank)
    name: str = param(nonblank)
    images: Sequence[FileInput] = param(seq(image_file("image_urls"), "image files"), default=())
    image_urls: Sequence[str] = param(urls, default=())
    callback: str | None = param(url)
    characteristics: Mapping[str, str | int | float] | None = param(characteristics_map)
    preset: str | None = param(choice(_PRESETS))


@attrs.frozen(kw_only=True)
class TuneParams(_TuneCommon):
    """Parameters of POST /tunes (API notes §3.4)."""

    __repr__ = fields_repr

    branch: str | None = param(choice("sd15|sdxl1|flux1|fast"))
    # A model name ("gemini") is resolved to its tune id by the client before sending.
    base_tune_id: int | str | None = param(tune_ref)
    model_type: str | None = param(choice("lora|pti|faceid"))
    token: str | None = param(nonblank)
    steps: int | None = param(positive)
    face_crop: bool | None = param(boolean)
    training_face_correct: bool | None = param(boolean)
    auto_extend: bool | None = param(boolean)
    # API notes §3.4: pack provenance, and one call with every prompt once all are done.
    base_pack_id: int | None = param(positive)
    prompts_callback: str | None = param(url)
    prompts: Sequence[PromptParams] = attrs.field(
        default=(), converter=_items,
        validator=lambda _, a, v: _PROMPT_LIST("prompts", v) if not unset(v) else None)
    extra: Mapping[str, Any] = extra_field()

    def validate(self) -> None:
        """Raise InvalidParamsError for the first bad field; prompt fields are `prompts[i].x`."""
        self.to_payload()

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the wire dict; prompts go out as `prompts_attributes` (API notes §3.4)."""
        values = _values(self)
        out = _check(TUNE_FIELDS, values, required=("title", "name"))
        _need_images(out)
        prompts = seq(lambda f, p: _nested(f, p, nested=True), "PromptParams")
        if not unset(self.prompts):
            out["prompts_attributes"] = prompts("prompts", self.prompts)
        return _merge_extra(out, self.extra, values)


@attrs.frozen(kw_only=True)
class PackTuneParams(_TuneCommon):
    """Parameters of POST /p/:pack_id/tunes (API notes §8.3)."""

    __repr__ = fields_repr

    prompt_attributes: PromptParams | None = attrs.field(
        default=None, validator=attrs.validators.optional(
            lambda _, a, v: _is_params("prompt_attributes", v)))
    prompts_callback: str | None = param(url)
    tune_ids: Sequence[int] = param(seq(positive, "positive integer ids"), default=())
    prompt_ids: Sequence[int] = param(seq(positive, "positive integer ids"), default=())
    brief: str | None = param(nonblank)
    extra: Mapping[str, Any] = extra_field()

    def validate(self) -> None:
        """Raise InvalidParamsError for the first bad field; overrides are `prompt_attributes.x`."""
        self.to_payload()

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the wire dict; `prompt_attributes` is one object of overrides
        (API notes §8.3)."""
        values = _values(self)
        out = _check(PACK_TUNE_FIELDS, values, required=("title", "name"))
        # API notes §8.3: tune_ids runs the pack on trained tunes, without images.
        if "tune_ids" not in out:
            _need_images(out)
        if self.prompt_attributes is not None:
            # Overrides apply to the pack's own prompts, so they need no text of their own.
            wire = _nested("prompt_attributes", self.prompt_attributes, require_text=False)
            if wire:
                out["prompt_attributes"] = wire
        return _merge_extra(out, self.extra, values)


@attrs.frozen(kw_only=True)
class PromptUpdateParams:
    """Fields of PATCH /prompts/:id (API notes §5.4): pack, provenance and workspace."""

    __repr__ = fields_repr

    pack_id: int | None = param(positive)
    base_pack_id: int | None = param(positive)
    workspace_id: int | None = param(positive)
    orig_prompt_id: int | None = param(positive)

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the wire dict of the fields given (at least one)."""
        out = _check(checks(PromptUpdateParams), _values(self))
        if not out:
            fail("prompt", "give at least one of pack_id, base_pack_id, workspace_id, "
                           "orig_prompt_id")
        return out


@attrs.frozen(kw_only=True)
class WorkspaceParams:
    """Fields of POST /workspaces and PATCH /workspaces/:id (API notes §10.2)."""

    __repr__ = fields_repr

    title: str | None = param(nonblank)
    brief: str | None = param(string)
    landing_page_html: str | None = param(string)

    def to_payload(self, *, create: bool = False) -> dict[str, Any]:
        """Validate, then the wire dict; a create needs a title, an update any one field."""
        out = _check(checks(WorkspaceParams), _values(self), required=("title",) if create else ())
        if not out:
            fail("workspace", "give at least one of title, brief, landing_page_html")
        return out


@attrs.frozen(kw_only=True)
class PackParams:
    """Fields of POST /packs (API notes §8.4): a new, empty pack on a base model."""

    __repr__ = fields_repr

    title: str = param(nonblank)
    base_tune_id: int | str = param(tune_ref)
    model_type: str | None = param(choice("lora|pti|faceid"))
    subtitle: str | None = param(string)

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the wire dict (a model name in base_tune_id is resolved later)."""
        return _check(checks(PackParams), _values(self), required=("title", "base_tune_id"))


@attrs.frozen(kw_only=True)
class InspectParams:
    """Fields of POST /images/inspect (API notes §9): the class name and one image."""

    __repr__ = fields_repr

    name: str = param(nonblank)
    file: FileInput | None = param(file_input("file_url"))
    file_url: str | None = param(url)

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the wire dict: exactly one of file and file_url."""
        out = _check(checks(InspectParams), _values(self), required=("name",))
        if ("file" in out) == ("file_url" in out):
            fail("file", "give one image: file (a path, bytes or binary file) or file_url")
        return out


# API notes §4/§5.2: what `expand[]` may name on prompt get/list.
expand_names = seq(choice("debug_images"), "expansions ('debug_images')")


def duplicate_payload(image_index: int | None, params: PromptParams | None,
                      overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The body of POST /prompts/:id/duplicate (API notes §5.5): overrides under `prompt`,
    `image_index` (which image of the original to start from) at the top level."""
    fields = attrs.fields_dict(PromptParams)
    for key in overrides:
        if key not in fields:
            fail(key, "is not a prompt parameter (pass unknown API parameters in extra={...})")
    base = params or PromptParams()
    if not isinstance(base, PromptParams):
        fail("params", f"must be a PromptParams, got {base!r}")
    # The original supplies the text and companions, as for pack overrides.
    prompt = attrs.evolve(base, **overrides).to_payload(require_text=False)
    body: dict[str, Any] = {"prompt": prompt} if prompt else {}
    if image_index is not None:
        body["image_index"] = integer(0)("image_index", image_index)
    return body


PROMPT_FIELDS = checks(PromptParams)
TUNE_FIELDS = checks(TuneParams)
PACK_TUNE_FIELDS = checks(PackTuneParams)
# API notes §3.5: the fields PATCH /tunes/:id is known to take.
UPDATE_FIELDS = {k: TUNE_FIELDS[k] for k in ("title", "name", "auto_extend", "characteristics")}


def validate_update(
    *,
    title: str | None = None,
    name: str | None = None,
    auto_extend: bool | None = None,
    characteristics: Mapping[str, str | int | float] | None = None,
) -> dict[str, Any]:
    """Check the fields of PATCH /tunes/:id (API notes §3.5); the wire dict of those given."""
    values: dict[str, Any] = {"title": title, "name": name, "auto_extend": auto_extend}
    values["characteristics"] = characteristics
    given = tuple(k for k, v in values.items() if v is not None)
    if not given:
        fail("tune", "give at least one of title, name, auto_extend, characteristics")
    # Every given field is required, so characteristics={} is refused rather than skipped.
    return _check(UPDATE_FIELDS, values, required=given)
