"""Local parameter validation: every rule refuses bad input by field name, before any request."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from astria_async.errors import InvalidParamsError
from astria_async.params import (
    PACK_TUNE_FIELDS,
    PROMPT_FIELDS,
    TUNE_FIELDS,
    PackTuneParams,
    PromptParams,
    TuneParams,
    url,
    validate_update,
)

URL = "https://example.com/a.jpg"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
TUNE: dict[str, Any] = {"title": "job-7f3c", "name": "man", "image_urls": [URL]}


def refused(field: str, make: Callable[[], object]) -> InvalidParamsError:
    """Run `make`, expect InvalidParamsError naming `field`, return it."""
    with pytest.raises(InvalidParamsError) as info:
        make()
    assert info.value.field == field, info.value
    return info.value


def tune(**kw: Any) -> TuneParams:
    """TuneParams with a valid title, name and image_urls, overridden by kw."""
    return TuneParams(**{**TUNE, **kw})


def prompt(**kw: Any) -> dict[str, Any]:
    """The payload of a top-level prompt with text plus kw."""
    return PromptParams(**{"text": "ohwx man", **kw}).to_payload()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "face.jpg"
    path.write_bytes(JPEG)
    return path


# --- the tables cover every field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "table", "special"),
    [
        (PromptParams, PROMPT_FIELDS, {"extra"}),
        (TuneParams, TUNE_FIELDS, {"extra", "prompts"}),
        (PackTuneParams, PACK_TUNE_FIELDS, {"extra", "prompt_attributes"}),
    ],
)
def test_every_field_has_a_rule(cls: type, table: dict[str, Any], special: set[str]) -> None:
    assert set(table) == {f.name for f in attrs.fields(cls)} - special


# --- single-field rules: valid and invalid examples ---------------------------------------

VALID_PROMPTS: list[dict[str, Any]] = [
    {"num_images": 1},
    {"num_images": 8},
    {"seed": 0},
    {"seed": 2**32},
    {"cfg_scale": 0},
    {"cfg_scale": 7.5},
    {"cfg_scale": 15},
    {"steps": 0},
    {"steps": 50},
    {"w": 8, "h": 1024},
    {"aspect_ratio": "16:9", "resolution": "4K"},
    {"ar": "anamorphic"},
    {"backend_version": 1},
    {"backend_version": "1"},
    {"color_grading": "Film Portra", "style": "Line art", "scheduler": "dpm++2m_karras"},
    {"denoising_strength": 0.0, "controlnet_conditioning_scale": 1},
    {"controlnet": "pose_face_and_hand", "input_image_url": URL},
    {"controlnet": "relight", "input_image_base64": "data:image/png;base64,iVBOR"},
    {"mask_image_url": URL, "input_image_url": URL},
    {"inpaint_faces": True, "hires_fix": True, "super_resolution": True},
    {"inpaint_faces": False, "hires_fix": False},
    {"callback": "http://localhost:3000/cb?secret=s3"},
    {"community": False, "face_swap": True, "use_lpw": True, "video_audio": False},
    {"workspace_id": 5, "pack_id": 1, "base_pack_id": 2, "video_duration": 5},
    {"video_model": "kling21", "video_upscale_target_resolution": "1080p"},
    {"image_reference_urls": (URL, "https://example.com/b.png")},
    {"negative_prompt": "", "theme": "autumn"},
]


@pytest.mark.parametrize("kw", VALID_PROMPTS)
def test_valid_prompt_fields_are_accepted(kw: dict[str, Any]) -> None:
    payload = prompt(**kw)
    for field, value in kw.items():
        if value in ("", ()):
            assert field not in payload
        else:
            assert payload[field] == (list(value) if isinstance(value, tuple) else value)


INVALID_PROMPTS: list[tuple[dict[str, Any], str, str]] = [
    ({"num_images": 0}, "num_images", "from 1 to 8"),
    ({"num_images": 9}, "num_images", "from 1 to 8"),
    ({"num_images": 2.0}, "num_images", "integer"),
    ({"num_images": True}, "num_images", "integer"),
    ({"num_images": "4"}, "num_images", "integer"),
    ({"seed": -1}, "seed", "from 0 to 4294967296"),
    ({"seed": 2**32 + 1}, "seed", "from 0"),
    ({"cfg_scale": 20}, "cfg_scale", "must be a number from 0 to 15, got 20"),
    ({"cfg_scale": -0.1}, "cfg_scale", "0 to 15"),
    ({"cfg_scale": math.nan}, "cfg_scale", "0 to 15"),
    ({"cfg_scale": math.inf}, "cfg_scale", "0 to 15"),
    ({"cfg_scale": True}, "cfg_scale", "number"),
    ({"cfg_scale": "3.0"}, "cfg_scale", "number"),
    ({"steps": 51}, "steps", "0 to 50"),
    ({"steps": 5.0}, "steps", "integer"),
    ({"w": 12}, "w", "multiple of 8"),
    ({"w": 0}, "w", "positive"),
    ({"h": -8}, "h", "positive"),
    ({"h": True}, "h", "multiple of 8"),
    ({"backend_version": 2}, "backend_version", "1"),
    ({"backend_version": True}, "backend_version", "1"),
    ({"backend_version": "v1"}, "backend_version", "1"),
    ({"denoising_strength": 1.01}, "denoising_strength", "0 to 1"),
    ({"denoising_strength": -0.01}, "denoising_strength", "0 to 1"),
    ({"controlnet_conditioning_scale": 2}, "controlnet_conditioning_scale", "0 to 1"),
    ({"super_resolution": 1}, "super_resolution", "True or False"),
    ({"film_grain": "true"}, "film_grain", "True or False"),
    ({"style": "cinematic"}, "style", "'Cinematic'"),
    ({"color_grading": "film velvia"}, "color_grading", "'Film Velvia'"),
    ({"scheduler": "Euler"}, "scheduler", "'euler'"),
    ({"aspect_ratio": "auto"}, "aspect_ratio", "'1:1'"),
    ({"ar": "square"}, "ar", "'portrait'"),
    ({"resolution": "1k"}, "resolution", "'1K'"),
    ({"controlnet": "Canny", "input_image_url": URL}, "controlnet", "'canny'"),
    ({"video_upscale_target_resolution": "8k"}, "video_upscale_target_resolution", "'4k'"),
    ({"callback": "ftp://example.com/cb"}, "callback", "http"),
    ({"callback": "/relative/cb"}, "callback", "absolute"),
    ({"callback": "example.com/cb"}, "callback", "absolute"),
    ({"callback": "https://"}, "callback", "absolute"),
    ({"callback": "https://example.com/cb\n"}, "callback", "control"),
    ({"input_image_url": 5}, "input_image_url", "string"),
    ({"input_image_base64": "iVBORw0KGgo="}, "input_image_base64", "data: URL"),
    ({"text": "   "}, "text", "blank"),
    ({"text": 5}, "text", "string"),
    ({"negative_prompt": ["a"]}, "negative_prompt", "string"),
    ({"video_model": "  "}, "video_model", "blank"),
    ({"workspace_id": 0}, "workspace_id", "positive"),
    ({"pack_id": "12"}, "pack_id", "positive"),
    ({"video_duration": -5}, "video_duration", "positive"),
    ({"lora_scale": 0.8}, "lora_scale", "only valid in a tune's prompts"),
    ({"image_reference_urls": URL}, "image_reference_urls", "list"),
    ({"image_reference_urls": (URL, "ftp://x/y")}, "image_reference_urls[1]", "http"),
]


@pytest.mark.parametrize(("kw", "field", "problem"), INVALID_PROMPTS)
def test_invalid_prompt_fields_are_refused(kw: dict[str, Any], field: str, problem: str) -> None:
    err = refused(field, lambda: prompt(**kw))
    assert problem in err.problem
    assert str(err) == f"{field}: {err.problem}"


# --- cross-field rules ---------------------------------------------------------------------

CROSS_FIELD: list[tuple[dict[str, Any], str, str]] = [
    ({"controlnet": "canny"}, "controlnet", "input image"),
    ({"mask_image_url": URL}, "mask_image_url", "input image"),
    ({"mask_image": b"mask"}, "mask_image", "input image"),
    ({"inpaint_faces": True}, "inpaint_faces", "super_resolution"),
    ({"hires_fix": True, "super_resolution": False}, "hires_fix", "super_resolution"),
    ({"input_image": b"img", "input_image_url": URL}, "input_image_url", "only one of"),
    (
        {"input_image_url": URL, "input_image_base64": "data:image/png;base64,AA"},
        "input_image_base64",
        "only one of",
    ),
    ({"input_image_url": URL, "mask_image": b"m", "mask_image_url": URL}, "mask_image_url", "one"),
    ({"w": 512, "aspect_ratio": "1:1"}, "aspect_ratio", "w/h or aspect_ratio"),
    ({"h": 512, "aspect_ratio": "1:1"}, "aspect_ratio", "w/h or aspect_ratio"),
]


@pytest.mark.parametrize(("kw", "field", "problem"), CROSS_FIELD)
def test_cross_field_rules(kw: dict[str, Any], field: str, problem: str) -> None:
    assert problem in refused(field, lambda: prompt(**kw)).problem


def test_text_is_required_unless_a_first_frame_is_given() -> None:
    assert "required" in refused("text", lambda: PromptParams().validate()).problem
    refused("text", lambda: PromptParams(text="").validate())
    frame = "https://example.com/first.png"
    assert PromptParams(video_first_frame_url=frame).to_payload() == {
        "video_first_frame_url": frame
    }


def test_lora_scale_is_allowed_only_in_a_tunes_prompts() -> None:
    p = PromptParams(text="ohwx man", lora_scale=0.7)
    assert p.to_payload(nested=True)["lora_scale"] == 0.7
    refused("lora_scale", p.validate)
    refused("lora_scale", lambda: p.validate(require_text=False))


# --- files ---------------------------------------------------------------------------------


def test_file_inputs_are_kept_and_paths_become_path(photo: Path) -> None:
    raw, stream = b"\x89PNG", io.BytesIO(b"\x89PNG")
    assert prompt(input_image=str(photo))["input_image"] == photo
    assert isinstance(prompt(input_image=str(photo))["input_image"], Path)
    assert prompt(input_image=photo)["input_image"] == photo
    assert prompt(input_image=raw)["input_image"] is raw
    assert prompt(input_image=stream)["input_image"] is stream
    with photo.open("rb") as fh:
        assert prompt(input_image=fh, mask_image=raw)["input_image"] is fh


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: str(p.parent / "missing.jpg"), "no such file"),
        (lambda p: p.parent, "no such file"),
        (lambda p: b"", "empty"),
        (lambda p: bytearray(), "empty"),
        (lambda p: 42, "file path, bytes or a binary file object"),
        (lambda p: "https://example.com/a.jpg", "input_image_url"),
        (lambda p: io.StringIO("text"), "binary mode"),
    ],
)
def test_bad_file_inputs_are_refused(
    photo: Path, make: Callable[[Path], Any], problem: str
) -> None:
    assert problem in refused("input_image", lambda: prompt(input_image=make(photo))).problem


def test_closed_file_is_refused(photo: Path) -> None:
    with photo.open("rb") as fh:
        pass
    assert "closed" in refused("input_image", lambda: prompt(input_image=fh)).problem


def test_tune_images_are_checked_by_index(photo: Path) -> None:
    stream = io.BytesIO(JPEG)
    payload = TuneParams(title="t", name="man", images=[str(photo), PNG, stream]).to_payload()
    assert payload["images"] == [photo, PNG, stream]
    assert payload["images"][2] is stream
    err = refused("images[0]", lambda: TuneParams(title="t", name="man", images=[URL]).validate())
    assert "image_urls" in err.problem
    missing = photo.parent / "nope.jpg"
    refused("images[1]", lambda: TuneParams(title="t", name="man", images=[photo, missing]))
    refused("images", lambda: TuneParams(**{**TUNE, "images": photo}).validate())


# --- URLs -----------------------------------------------------------------------------------


def test_non_ascii_image_urls_are_percent_encoded() -> None:
    raw = "https://cdn.example.com/фото 1.jpg?size=große"
    payload = TuneParams(title="t", name="man", image_urls=[raw]).to_payload()
    assert payload["image_urls"] == [
        "https://cdn.example.com/%D1%84%D0%BE%D1%82%D0%BE%201.jpg?size=gro%C3%9Fe"
    ]
    assert url("u", "https://bücher.example/x") == "https://xn--bcher-kva.example/x"
    ascii_url = "https://example.com/a%20b.jpg?x=1&y=%C3%BC#frag"
    assert url("u", ascii_url) == ascii_url
    refused("image_urls[1]", lambda: TuneParams(**{**TUNE, "image_urls": [URL, "nope"]}).validate())
    refused("image_urls", lambda: TuneParams(**{**TUNE, "image_urls": URL}).validate())


PATH_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="%"))
HOST = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z]{2,6}){1,2}", fullmatch=True)


@given(scheme=st.sampled_from(["http", "https"]), host=HOST, path=PATH_TEXT)
def test_any_http_url_becomes_ascii_and_round_trips(scheme: str, host: str, path: str) -> None:
    raw = f"{scheme}://{host}/{path}"
    out = url("callback", raw)
    assert out.isascii()
    assert " " not in out
    assert unquote(out) == raw
    assert url("callback", out) == out


@given(st.text().filter(lambda s: not s.lower().startswith(("http://", "https://"))))
def test_non_http_strings_are_refused_as_urls(value: str) -> None:
    refused("callback", lambda: prompt(callback=value))


# --- tunes ---------------------------------------------------------------------------------

INVALID_TUNES: list[tuple[dict[str, Any], str]] = [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": None}, "title"),
    ({"name": 3}, "name"),
    ({"image_urls": []}, "images"),
    ({"branch": "SD15"}, "branch"),
    ({"branch": "gemini-2"}, "branch"),
    ({"model_type": "checkpoint"}, "model_type"),
    ({"preset": "high"}, "preset"),
    ({"base_tune_id": 0}, "base_tune_id"),
    ({"base_tune_id": "1504944"}, "base_tune_id"),
    ({"steps": True}, "steps"),
    ({"token": " "}, "token"),
    ({"face_crop": 1}, "face_crop"),
    ({"training_face_correct": "false"}, "training_face_correct"),
    ({"auto_extend": None, "callback": "mailto:me@example.com"}, "callback"),
    ({"characteristics": "eye_color=blue"}, "characteristics"),
    ({"characteristics": {"": "x"}}, "characteristics"),
    ({"characteristics": {1: "x"}}, "characteristics"),
    ({"characteristics": {"age": None}}, "characteristics.age"),
    ({"characteristics": {"smiling": True}}, "characteristics.smiling"),
    ({"prompts": [PromptParams(text="a"), PromptParams(text="b", hires_fix=True)]},
     "prompts[1].hires_fix"),
    ({"prompts": [PromptParams()]}, "prompts[0].text"),
    ({"prompts": [PromptParams(text="a", controlnet="canny")]}, "prompts[0].controlnet"),
    ({"prompts": [{"text": "a"}]}, "prompts[0]"),
    ({"prompts": PromptParams(text="a")}, "prompts"),
]  # fmt: skip


@pytest.mark.parametrize(("kw", "field"), INVALID_TUNES)
def test_invalid_tunes_are_refused(kw: dict[str, Any], field: str) -> None:
    refused(field, lambda: tune(**kw).validate())


def test_tune_payload_shape() -> None:
    p = TuneParams(
        **TUNE,
        branch="flux1",
        model_type="lora",
        preset="flux-lora-portrait",
        base_tune_id=1504944,
        face_crop=False,
        characteristics={"eye_color": "blue", "age": 30},
        callback="https://example.com/cb?user_id=1",
        prompts=[PromptParams(text="<lora:1:1> ohwx man", lora_scale=0.9, num_images=2)],
    )
    assert p.to_payload() == {
        "title": "job-7f3c",
        "name": "man",
        "image_urls": [URL],
        "branch": "flux1",
        "model_type": "lora",
        "preset": "flux-lora-portrait",
        "base_tune_id": 1504944,
        "face_crop": False,
        "characteristics": {"eye_color": "blue", "age": 30},
        "callback": "https://example.com/cb?user_id=1",
        "prompts_attributes": [{"text": "<lora:1:1> ohwx man", "lora_scale": 0.9, "num_images": 2}],
    }
    assert "prompts_attributes" not in TuneParams(**TUNE).to_payload()


# --- packs ---------------------------------------------------------------------------------


def test_pack_tune_ids_replace_images_and_overrides_need_no_text() -> None:
    overrides = PromptParams(num_images=2, inpaint_faces=True, callback="https://e.com/p")
    p = PackTuneParams(title="t", name="woman", tune_ids=[12, 13], prompt_attributes=overrides)
    assert p.to_payload() == {
        "title": "t",
        "name": "woman",
        "tune_ids": [12, 13],
        "prompt_attributes": {
            "num_images": 2,
            "inpaint_faces": True,
            "callback": "https://e.com/p",
        },
    }
    empty = PackTuneParams(**TUNE, prompt_attributes=PromptParams())
    assert "prompt_attributes" not in empty.to_payload()


INVALID_PACKS: list[tuple[dict[str, Any], str]] = [
    ({"image_urls": ()}, "images"),
    ({"tune_ids": [0]}, "tune_ids[0]"),
    ({"tune_ids": "12"}, "tune_ids"),
    ({"prompt_ids": [True]}, "prompt_ids[0]"),
    ({"prompts_callback": "not a url"}, "prompts_callback"),
    ({"brief": "  "}, "brief"),
    ({"preset": "flux-lora-high"}, "preset"),
    ({"prompt_attributes": PromptParams(w=512, aspect_ratio="1:1")},
     "prompt_attributes.aspect_ratio"),
    ({"prompt_attributes": PromptParams(lora_scale=1.0)}, "prompt_attributes.lora_scale"),
    ({"prompt_attributes": {"num_images": 2}}, "prompt_attributes"),
    ({"name": ""}, "name"),
]


@pytest.mark.parametrize(("kw", "field"), INVALID_PACKS)
def test_invalid_pack_tunes_are_refused(kw: dict[str, Any], field: str) -> None:
    refused(field, lambda: PackTuneParams(**{**TUNE, **kw}).validate())


# --- update --------------------------------------------------------------------------------


def test_validate_update() -> None:
    assert validate_update(title="new", auto_extend=False) == {"title": "new", "auto_extend": False}
    assert validate_update(characteristics={"k": "v"}) == {"characteristics": {"k": "v"}}
    refused("tune", validate_update)
    refused("title", lambda: validate_update(title=""))
    refused("name", lambda: validate_update(name="  "))
    refused("auto_extend", lambda: validate_update(auto_extend=1))  # type: ignore[arg-type]
    refused("characteristics.x", lambda: validate_update(characteristics={"x": []}))  # type: ignore[dict-item]


# --- extra and payload shape -----------------------------------------------------------------


def test_payload_omits_unset_and_keeps_false_and_zero() -> None:
    p = PromptParams(text="x", negative_prompt="", seed=0, super_resolution=False, style=None)
    assert p.to_payload() == {"text": "x", "seed": 0, "super_resolution": False}


def test_extra_is_merged_unvalidated() -> None:
    p = PromptParams(text="x", extra={"generate_audio": "yes", "cfg_scale": 99})
    assert p.to_payload() == {"text": "x", "generate_audio": "yes", "cfg_scale": 99}
    t = TuneParams(**TUNE, extra={"workspace_id": 7})
    assert t.to_payload()["workspace_id"] == 7


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: PromptParams(text="x", cfg_scale=3, extra={"cfg_scale": 4}), "extra.cfg_scale"),
        (lambda: PromptParams(text="x", extra={"text": "y"}), "extra.text"),
        (lambda: PromptParams(text="x", extra={"": 1}), "extra"),
        (lambda: PromptParams(text="x", extra=cast(Any, {1: 1})), "extra"),
        (lambda: PromptParams(text="x", extra=cast(Any, [("a", 1)])), "extra"),
        (lambda: TuneParams(**TUNE, extra={"title": "other"}), "extra.title"),
        (
            lambda: TuneParams(
                **TUNE, prompts=[PromptParams(text="a")], extra={"prompts_attributes": []}
            ),
            "extra.prompts_attributes",
        ),
        (
            lambda: tune(prompts=[PromptParams(text="a")], extra={"prompts": []}),
            "extra.prompts",
        ),
        (
            lambda: TuneParams(**TUNE, prompts=[PromptParams(text="a", seed=1, extra={"seed": 2})]),
            "prompts[0].extra.seed",
        ),
        (lambda: PackTuneParams(**TUNE, brief="b", extra={"brief": "c"}), "extra.brief"),
    ],
)
def test_extra_clashes_and_bad_keys_are_refused(make: Callable[[], Any], field: str) -> None:
    refused(field, lambda: make().to_payload())


# --- property tests: numeric ranges --------------------------------------------------------

INT_RANGES: list[tuple[str, int, int]] = [
    ("num_images", 1, 8),
    ("seed", 0, 2**32),
    ("steps", 0, 50),
]
FLOAT_RANGES: list[tuple[str, float, float]] = [
    ("cfg_scale", 0, 15),
    ("denoising_strength", 0, 1),
    ("controlnet_conditioning_scale", 0, 1),
]


@pytest.mark.parametrize(("field", "lo", "hi"), INT_RANGES)
@given(data=st.data())
def test_int_ranges(field: str, lo: int, hi: int, data: st.DataObject) -> None:
    good = data.draw(st.integers(lo, hi))
    assert prompt(**{field: good})[field] == good
    bad = data.draw(st.integers(max_value=lo - 1) | st.integers(min_value=hi + 1))
    assert f"from {lo} to {hi}" in refused(field, lambda: prompt(**{field: bad})).problem
    wrong_type = data.draw(st.floats() | st.booleans() | st.text(min_size=1))
    refused(field, lambda: prompt(**{field: wrong_type}))


@pytest.mark.parametrize(("field", "lo", "hi"), FLOAT_RANGES)
@given(data=st.data())
def test_float_ranges(field: str, lo: float, hi: float, data: st.DataObject) -> None:
    good = data.draw(st.floats(lo, hi) | st.integers(int(lo), int(hi)))
    assert prompt(**{field: good})[field] == good
    bad = data.draw(
        st.floats(max_value=lo, exclude_max=True)
        | st.floats(min_value=hi, exclude_min=True)
        | st.just(math.nan)
        | st.booleans()
    )
    refused(field, lambda: prompt(**{field: bad}))


@pytest.mark.parametrize("field", ["w", "h"])
@given(data=st.data())
def test_sizes_are_positive_multiples_of_8(field: str, data: st.DataObject) -> None:
    good = data.draw(st.integers(1, 10**4).map(lambda k: 8 * k))
    assert prompt(**{field: good})[field] == good
    bad = data.draw(st.integers().filter(lambda n: n <= 0 or n % 8 != 0))
    refused(field, lambda: prompt(**{field: bad}))


@pytest.mark.parametrize("field", ["base_tune_id", "steps"])
@given(data=st.data())
def test_tune_positive_ints(field: str, data: st.DataObject) -> None:
    good = data.draw(st.integers(min_value=1))
    assert tune(**{field: good}).to_payload()[field] == good
    bad = data.draw(st.integers(max_value=0) | st.floats() | st.booleans())
    refused(field, lambda: tune(**{field: bad}).validate())


# --- property tests: enums and booleans ------------------------------------------------------

PROMPT_ENUMS: dict[str, list[str]] = {
    "color_grading": ["Film Velvia", "Film Portra", "Ektar"],
    "style": [
        "Cinematic", "Animated", "Digital Art", "Photographic", "Fantasy art",
        "Neonpunk", "Enhance", "Comic book", "Lowpoly", "Line art",
    ],
    "scheduler": [
        "euler", "euler_a", "dpm++2m_karras", "dpm++sde_karras",
        "dpm++2m", "dpm++sde", "lcm", "tcd",
    ],
    "aspect_ratio": [
        "1:1", "16:9", "9:16", "21:9", "9:21", "3:2", "2:3", "5:4", "4:5", "4:3", "3:4",
    ],
    "ar": ["1:1", "portrait", "16:9", "landscape", "anamorphic"],
    "resolution": ["1K", "2K", "4K"],
    "controlnet": [
        "composition", "reference", "segroom", "ipadapter", "lineart", "canny", "depth", "mlsd",
        "hed", "pose", "tile", "qr", "relight", "style",
        "pose_with_hand", "pose_with_face", "pose_face_and_hand",
    ],
    "video_upscale_target_resolution": ["720p", "1080p", "2k", "4k"],
}  # fmt: skip
TUNE_ENUMS: dict[str, list[str]] = {
    "branch": ["sd15", "sdxl1", "flux1", "fast"],
    "model_type": ["lora", "pti", "faceid"],
    "preset": ["flux-lora-focus", "flux-lora-portrait", "flux-lora-fast"],
}


@pytest.mark.parametrize(("field", "values"), PROMPT_ENUMS.items())
@given(data=st.data())
def test_prompt_enums(field: str, values: list[str], data: st.DataObject) -> None:
    base = {"input_image_url": URL}  # controlnet needs an input image
    good = data.draw(st.sampled_from(values))
    assert prompt(**base, **{field: good})[field] == good
    bad = data.draw(st.text(min_size=1).filter(lambda s: s not in values))
    err = refused(field, lambda: prompt(**base, **{field: bad}))
    assert all(repr(v) in err.problem for v in values)


@pytest.mark.parametrize(("field", "values"), TUNE_ENUMS.items())
@given(data=st.data())
def test_tune_enums(field: str, values: list[str], data: st.DataObject) -> None:
    good = data.draw(st.sampled_from(values))
    assert tune(**{field: good}).to_payload()[field] == good
    bad = data.draw(st.text(min_size=1).filter(lambda s: s not in values))
    assert repr(values[0]) in refused(field, lambda: tune(**{field: bad}).validate()).problem


BOOL_FIELDS = [
    "community", "super_resolution", "inpaint_faces", "hires_fix", "face_correct", "face_swap",
    "film_grain", "prompt_expansion", "use_lpw", "controlnet_txt2img", "video_audio",
]  # fmt: skip


@pytest.mark.parametrize("field", BOOL_FIELDS)
@given(good=st.booleans(), bad=st.integers() | st.text() | st.floats())
def test_prompt_booleans(field: str, good: bool, bad: object) -> None:
    base = {"super_resolution": True} if field in ("inpaint_faces", "hires_fix") else {}
    assert prompt(**base, **{field: good})[field] is good
    refused(field, lambda: prompt(**base, **{field: bad}))


# --- property test: payload = exactly the set fields ------------------------------------------

SETTABLE = st.fixed_dictionaries(
    {},
    optional={
        "num_images": st.integers(1, 8),
        "seed": st.integers(0, 2**32),
        "cfg_scale": st.floats(0, 15),
        "steps": st.integers(0, 50),
        "w": st.integers(1, 512).map(lambda k: 8 * k),
        "style": st.sampled_from(PROMPT_ENUMS["style"]),
        "film_grain": st.booleans(),
        "negative_prompt": st.text(min_size=1),
        "theme": st.none(),
        "callback": st.just("https://example.com/cb"),
    },
)


@given(kw=SETTABLE, extra=st.dictionaries(st.sampled_from(["x_new", "y_new"]), st.integers()))
def test_payload_is_exactly_the_set_fields_plus_extra(
    kw: dict[str, Any], extra: dict[str, int]
) -> None:
    payload = PromptParams(text="t", extra=extra, **kw).to_payload()
    assert payload == {"text": "t", **{k: v for k, v in kw.items() if v is not None}, **extra}
    nested = TuneParams(**TUNE, prompts=[PromptParams(text="t", extra=extra, **kw)]).to_payload()
    assert nested["prompts_attributes"] == [payload]
