"""Each request parameter is declared once, on the params classes; the keyword arguments of
the create methods must match them, so the two cannot drift apart again."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from astria_async.params import (
    InspectParams,
    PackParams,
    PackTuneParams,
    PromptParams,
    PromptUpdateParams,
    TuneParams,
)
from astria_async.resources.images import Images
from astria_async.resources.packs import Packs
from astria_async.resources.prompts import Prompts
from astria_async.resources.tunes import Tunes

# Where a create method differs from its params class on purpose, and why.
CASES: list[tuple[type[Any], Callable[..., Any], set[str], set[str]]] = [
    # lora_scale is only valid inside a tune's prompts (TuneParams.prompts), not on a create.
    (PromptParams, Prompts.create, {"lora_scale"}, {"tune_id", "params"}),
    (TuneParams, Tunes.create, set(), set()),
    (PackTuneParams, Packs.create_tune, set(), {"pack_id_or_slug"}),
    (PromptUpdateParams, Prompts.update, set(), {"prompt_id", "tune_id"}),
    (PackParams, Packs.create, set(), set()),
    (InspectParams, Images.inspect, set(), set()),
]


def _normal(annotation: str) -> str:
    # A create takes any sequence where the params class stores a tuple.
    return annotation.replace("Sequence[", "tuple[").replace(", ...]", "]").replace(" ", "")


@pytest.mark.parametrize(("cls", "method", "not_keywords", "only_keywords"), CASES,
                         ids=[case[1].__qualname__ for case in CASES])
def test_create_keywords_are_the_params_fields(cls: type[Any], method: Callable[..., Any],
                                               not_keywords: set[str],
                                               only_keywords: set[str]) -> None:
    fields = {f.name: f for f in attrs.fields(cls)}
    signature = inspect.signature(method).parameters
    keywords = set(signature) - {"self"}
    assert sorted(set(fields) - not_keywords - keywords) == [], "missing from the signature"
    assert sorted(keywords - set(fields) - only_keywords) == [], "not a field of the params"
    for name in set(fields) & keywords:
        declared = _normal(str(fields[name].type))
        given = _normal(str(signature[name].annotation))
        if not declared.endswith("|None"):  # a keyword may take None for "the default"
            given = given.removesuffix("|None")
        assert given == declared, f"{method.__qualname__}({name}: {given}) vs {declared}"
