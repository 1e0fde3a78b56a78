"""Structuring real-shaped Astria payloads into models, leniently and with clear failures."""

from __future__ import annotations

import copy
import logging
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from astria_async import APIResponseValidationError, Pack, Prompt, Tune
from astria_async._convert import _fast, _lenient, detailed, structure, structure_many

# Shaped like the tune in astria-api §2 (list example) and live payloads.
TUNE: dict[str, Any] = {
    "id": 1504944, "title": "job-7f3c", "name": "man", "is_api": True, "token": "ohwx",
    "base_tune_id": None, "args": None, "steps": None, "face_crop": None,
    "ckpt_url": None, "ckpt_urls": [], "branch": "flux1", "model_type": "lora",
    "eta": "2024-05-01T10:20:00.000Z", "trained_at": "2024-05-01T10:19:31.123Z",
    "started_training_at": "2024-05-01T10:05:00.000Z",
    "expires_at": "2024-05-31T10:19:31.123Z",
    "created_at": "2024-05-01T10:04:59.876Z", "updated_at": "2024-05-01T10:19:31.123Z",
    "url": "https://api.astria.ai/tunes/1504944.json",
    "orig_images": ["https://mp.astria.ai/abc", "https://mp.astria.ai/def"],
    "cost_mc": 150000, "callback": "", "some_new_field": {"nested": 1},
}

PROMPT: dict[str, Any] = {
    "id": 20000001, "callback": "", "text": "<lora:1504944:1.0> ohwx man in a suit",
    "negative_prompt": "", "cfg_scale": "3.0", "steps": None, "seed": 42,
    "trained_at": None, "started_training_at": None, "created_at": "2024-05-01T10:30:00.000Z",
    "updated_at": "2024-05-01T10:30:00.000Z", "tune_id": 1504944,
    "url": "https://api.astria.ai/tunes/1504944/prompts/20000001.json", "images": [],
    "num_images": "4", "super_resolution": "true", "ar": "1:1",
    "controlnet_conditioning_scale": None, "denoising_strength": "0.8",
}


def test_tune_fields_and_raw() -> None:
    tune = Tune.from_dict(TUNE)
    assert tune.id == 1504944 and tune.title == "job-7f3c"
    assert tune.trained_at == datetime(2024, 5, 1, 10, 19, 31, 123000, tzinfo=timezone.utc)
    assert tune.expires_at is not None and tune.trained_at is not None
    assert tune.expires_at - tune.trained_at == timedelta(days=30)
    assert tune.is_trained and not tune.is_fast
    assert tune.ckpt_urls == () and tune.orig_images[1] == "https://mp.astria.ai/def"
    assert tune.callback is None  # "" means not set
    assert tune.raw is TUNE and tune.raw["some_new_field"] == {"nested": 1}


def test_wrapped_and_flat_payloads_are_equal() -> None:
    assert Tune.from_dict({"tune": TUNE}) == Tune.from_dict(TUNE)
    assert Prompt.from_dict({"prompt": PROMPT}) == Prompt.from_dict(PROMPT)


def test_prompt_numbers_as_strings_and_empty_strings() -> None:
    prompt = Prompt.from_dict(PROMPT)
    assert prompt.cfg_scale == 3.0 and prompt.num_images == 4
    assert prompt.super_resolution is True and prompt.denoising_strength == 0.8
    assert prompt.negative_prompt is None and prompt.callback is None
    assert not prompt.is_finished and not prompt.is_failed and not prompt.succeeded


def test_missing_keys_default() -> None:
    tune = Tune.from_dict({"id": 5})
    assert tune.title is None and tune.trained_at is None and tune.orig_images == ()
    assert not tune.is_trained
    prompt = Prompt.from_dict({"id": 6})
    assert prompt.images == () and prompt.user_error is None and prompt.tunes == ()


@pytest.mark.parametrize(("images", "user_error", "finished", "failed", "succeeded"), [
    ([], None, False, False, False),
    (["https://mp.astria.ai/x"], None, True, False, True),
    ([{"url": "https://mp.astria.ai/y"}], "", True, False, True),
    ([], "Content policy violation", True, True, False),
    (["https://mp.astria.ai/x"], "partial failure", True, True, False),
])
def test_prompt_completion_rules(images: list[Any], user_error: str | None, finished: bool,
                                 failed: bool, succeeded: bool) -> None:
    prompt = Prompt.from_dict({"id": 1, "images": images, "user_error": user_error})
    assert (prompt.is_finished, prompt.is_failed, prompt.succeeded) == (
        finished, failed, succeeded)


def test_images_objects_become_urls() -> None:
    prompt = Prompt.from_dict({"id": 1, "images": [{"url": "https://a"}, "https://b"]})
    assert prompt.images == ("https://a", "https://b")


def test_referenced_tunes_come_from_tokens_then_tunes_then_tune_id() -> None:
    lora = Prompt.from_dict({"id": 1, "tune_id": 1504944,
                             "text": "<lora:111:1.0> <faceid:222:1> ohwx man"})
    assert lora.referenced_tune_ids == (111, 222)
    listed = Prompt.from_dict({"id": 1, "tune_id": 3159068, "text": "woman",
                               "tunes": [{"id": 333, "title": "x"}]})
    assert listed.referenced_tune_ids == (333,)
    plain = Prompt.from_dict({"id": 1, "tune_id": 690204, "text": "sks man"})
    assert plain.referenced_tune_ids == (690204,)
    both = Prompt.from_dict({"id": 1, "tune_id": 1504944,
                             "text": "<lora:111:1> <lora:111:0.5> <faceid:222:1> man",
                             "tunes": [{"id": 222}, {"id": 444}, {"id": "555"}, {}]})
    assert both.referenced_tune_ids == (111, 222, 444)  # in order, once each, ints only
    unusable = Prompt.from_dict({"id": 1, "tune_id": 690204, "text": "sks man",
                                 "tunes": [{"id": None}]})
    assert unusable.referenced_tune_ids == (690204,)


def test_characteristics_as_object_or_json_string() -> None:
    assert Tune.from_dict({"id": 1, "characteristics": {"a": "b"}}).characteristics == {"a": "b"}
    tune = Tune.from_dict({"id": 1, "characteristics": '{"short_description": "tall"}'})
    assert tune.characteristics == {"short_description": "tall"}


def test_nested_prompts_of_a_tune() -> None:
    tune = Tune.from_dict({**TUNE, "prompts": [PROMPT, {"id": 2, "images": ["https://x"]}]})
    assert [p.id for p in tune.prompts] == [20000001, 2]
    assert tune.prompts[1].succeeded


def test_datetimes_naive_and_offset() -> None:
    naive = Tune.from_dict({"id": 1, "created_at": "2024-05-01T10:00:00"})
    assert naive.created_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    offset = Tune.from_dict({"id": 1, "created_at": "2024-05-01T12:00:00.5+02:00"})
    assert offset.created_at is not None
    assert offset.created_at.astimezone(timezone.utc).hour == 10


@pytest.mark.parametrize("payload", [{"title": "no id"}, {"id": "abc"}, {"id": True}])
def test_an_object_without_a_readable_id_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        Tune.from_dict(payload)
    assert info.value.field == "id"
    assert "'id'" in str(info.value)


@pytest.mark.parametrize(("cls", "field", "value", "default"), [
    (Tune, "trained_at", "yesterday", None),
    (Tune, "steps", "many", None),
    (Tune, "orig_images", [3], ()),
    (Tune, "characteristics", "{not json", None),
    (Prompt, "created_at", "not a time", None),
    (Prompt, "images", {"no": "url"}, ()),
    (Prompt, "num_images", "many", None),
    (Prompt, "tunes", 5, ()),
])
def test_a_bad_field_is_unset_and_kept_in_raw(cls: type[Any], field: str, value: Any,
                                              default: Any,
                                              caplog: pytest.LogCaptureFixture) -> None:
    payload = {"id": 4242, "title": "kept", "text": "kept", field: value}
    for _ in range(3):
        obj = cls.from_dict(payload)
    assert obj.id == 4242 and getattr(obj, field) == default and obj.raw[field] == value
    assert (obj.title if cls is Tune else obj.text) == "kept"  # the other fields are read
    logged = [r.getMessage() for r in caplog.records if f"'{field}'" in r.getMessage()]
    assert len(logged) == 1 and "4242" in logged[0]  # once, with the id and the field


@pytest.mark.parametrize("payload", [[TUNE], "tune", None, 5])
def test_non_object_payload_is_refused(payload: Any) -> None:
    with pytest.raises(APIResponseValidationError, match="expected a tune object"):
        Tune.from_dict(payload)


def test_pack_fields() -> None:
    pack = Pack.from_dict({
        "id": 5, "slug": "corporate-headshots", "title": "Corporate", "multiplier": "1.5",
        "costs": {"man": {"cost_mc": 120000, "num_images": 40}},
        "cost_mc_hash": {"man": 120000}, "public_at": "2024-01-01T00:00:00.000Z"})
    assert pack.multiplier == 1.5 and pack.costs is not None
    assert pack.costs["man"]["cost_mc"] == 120000
    assert pack.public_at is not None and pack.public_at.year == 2024


_JSONISH = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
    st.sampled_from(["", "3.0", "12", "true", "x", "2024-05-01T10:19:31.123Z"]),
    st.lists(st.sampled_from(["https://a", {"url": "https://b"}]), max_size=2),
)


@pytest.mark.parametrize("cls", [Tune, Prompt, Pack])
@given(data=st.data())
def test_fast_path_agrees_with_the_cattrs_converter(cls: type[Any], data: st.DataObject) -> None:
    # The generated hot path must structure exactly like the reference cattrs converter.
    names = [f.name for f in attrs.fields(cls) if f.name not in ("raw", "_client", "prompts")]
    payload = {"id": data.draw(st.integers(1, 10**9) | st.sampled_from(["7", 7.0]))}
    for name in data.draw(st.lists(st.sampled_from(names), max_size=8, unique=True)):
        payload[name] = data.draw(_JSONISH)
    try:
        oid = detailed().structure({"id": payload["id"]}, cls).id
    except Exception:  # no readable id: no object
        with pytest.raises(APIResponseValidationError):
            cls.from_dict(payload)
        return
    # A field the reference cannot read is left unset (lenient); the others must agree.
    readable = {"id": oid}
    for name, value in payload.items():
        try:
            detailed().structure({"id": oid, name: value}, cls)
        except Exception:
            continue
        readable[name] = value
    assert cls.from_dict(payload) == detailed().structure(readable, cls)


FULL_PROMPT: dict[str, Any] = {
    **PROMPT, "images": ["https://mp.astria.ai/1.jpg", "https://mp.astria.ai/2.jpg"],
    "tunes": [{"id": 1504944, "title": "job-7f3c"}], "image_references": ["https://x/r.jpg"],
    "liked": False, "w": 1024, "h": 1024, "trained_at": "2024-05-01T10:31:00Z",
    "user_error": "", "debug_images": [], "video_duration": 5}


@pytest.mark.parametrize(("cls", "payload"), [
    (Tune, TUNE), (Tune, {**TUNE, "prompts": [FULL_PROMPT], "characteristics": {"age": "30"}}),
    (Prompt, PROMPT), (Prompt, FULL_PROMPT), (Pack, {"id": 5, "costs": {"man": {"x": 1}}})])
def test_generated_build_fills_every_slot_like_the_constructor(
        cls: type[Any], payload: dict[str, Any]) -> None:
    # The hot path fills the slots of a new instance itself; the lenient path calls the attrs
    # constructor. Every attribute (raw and the client included) must come out the same.
    client = object()
    fast = _fast(cls)
    built = fast(payload, client)
    reference = _lenient(payload, cls, client, "x")  # type: ignore[arg-type]
    for field in attrs.fields(cls):
        mine, theirs = getattr(built, field.name), getattr(reference, field.name)
        assert type(mine) is type(theirs) and mine == theirs, field.name
    assert built.raw is payload
    assert built == reference and repr(built) == repr(reference)
    assert _hash(built) == _hash(reference)  # None for both when a field holds a dict
    assert attrs.evolve(built, id=9) == attrs.evolve(reference, id=9)
    plain = _fast(cls)(payload, None)
    assert pickle.loads(pickle.dumps(plain)) == plain



@pytest.mark.parametrize(("cls", "payload"), [
    (Tune, TUNE), (Tune, {**TUNE, "prompts": [FULL_PROMPT], "characteristics": {"age": "30"}}),
    (Tune, {"id": 3, "images": ["https://old/1.jpg"]}),  # the older name of orig_images
    (Prompt, PROMPT), (Prompt, FULL_PROMPT), (Pack, {"id": 5, "costs": {"man": {"x": 1}}})])
@pytest.mark.parametrize("first", ["field", "eq", "repr", "pickle", "copy", "evolve", "asdict"])
def test_an_answer_read_lazily_is_the_object_from_dict_builds(
        cls: type[Any], payload: dict[str, Any], first: str) -> None:
    # Client calls build their answers lazily; whatever a user does first with one (read a
    # field, compare, print, pickle, copy, evolve, asdict), it is the object built eagerly.
    eager = cls.from_dict(payload)
    lazy = structure(payload, cls)
    assert lazy.id == eager.id and lazy.raw is payload
    firsts: dict[str, Callable[[Any], Any]] = {
              "field": lambda o: o.created_at,  # a field a shell leaves unset
              "eq": lambda o: o == eager, "repr": repr,
              "pickle": lambda o: pickle.loads(pickle.dumps(o)),
              "copy": copy.copy, "evolve": lambda o: attrs.evolve(o, id=o.id),
              "asdict": lambda o: attrs.asdict(o, recurse=False)}
    result = firsts[first](lazy)
    if first in ("pickle", "copy", "evolve"):
        assert result == eager and result.raw == payload
    for field in attrs.fields(cls):
        mine, theirs = getattr(lazy, field.name), getattr(eager, field.name)
        assert type(mine) is type(theirs) and mine == theirs, field.name
    assert lazy == eager and repr(lazy) == repr(eager) and _hash(lazy) == _hash(eager)


def test_a_lazy_answer_still_refuses_an_unreadable_id_at_once() -> None:
    with pytest.raises(APIResponseValidationError, match="'id' is invalid"):
        structure({"id": "seven", "title": "t"}, Tune)
    with pytest.raises(APIResponseValidationError, match="no 'id'"):
        structure({"title": "t"}, Prompt)
    assert [p.id for p in structure_many([{"id": "x"}, {"id": "8"}], Prompt)] == [8]


def test_a_bad_field_in_a_lazy_answer_is_unset_and_reported_once(
        caplog: pytest.LogCaptureFixture) -> None:
    lazy = structure({"id": 4343, "text": "kept", "num_images": "many"}, Prompt)
    with caplog.at_level(logging.WARNING, logger="astria_async"):
        assert lazy.num_images is None and lazy.text == "kept" and lazy.raw["num_images"] == "many"
        assert lazy == Prompt.from_dict({"id": 4343, "text": "kept", "num_images": "many"})
    logged = [r.getMessage() for r in caplog.records if "'num_images'" in r.getMessage()]
    assert len(logged) == 1 and "4343" in logged[0]


def test_a_name_that_is_not_a_field_is_an_attribute_error() -> None:
    lazy = structure(TUNE, Tune)
    with pytest.raises(AttributeError, match="'Tune' object has no attribute 'titel'"):
        lazy.titel  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(lazy, "__getnewargs_ex__") and lazy.title == "job-7f3c"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lazy.title = "x"  # type: ignore[misc]

def _hash(obj: Any) -> int | None:
    try:
        return hash(obj)
    except TypeError:
        return None


@pytest.mark.parametrize("stamp", [" 2024-05-01T10:00:00Z", "2024-05-01T10:00:00z ",
                                   "2024-05-01T10:00:00", 1714557600, 1714557600.0])
def test_a_timestamp_the_inline_path_cannot_take_is_read_by_its_hook(
        stamp: Any, caplog: pytest.LogCaptureFixture) -> None:
    tune = Tune.from_dict({"id": 1, "created_at": stamp, "title": "t"})
    assert tune.created_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert tune.title == "t" and not caplog.records  # read, not reported as unreadable


def test_an_empty_timestamp_is_unset_on_the_inline_path() -> None:
    assert _fast(Tune)({"id": 1, "trained_at": ""}, None).trained_at is None


def test_urls_as_objects_and_mixed_lists_are_read() -> None:
    tune = Tune.from_dict({"id": 1, "orig_images": ["https://a", {"url": "https://b"}]})
    assert tune.orig_images == ("https://a", "https://b")
    prompt = Prompt.from_dict({"id": 2, "images": ("https://a",)})
    assert prompt.images == ("https://a",)
