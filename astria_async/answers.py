"""Models of the answers of the less-used calls: the account (`User`, `Workspace`), the model
catalogue (`ModelCatalog`, `CatalogModel`), a pack run (`PackRun`) and an image inspection
(`ImageInspection`). Each keeps the untouched payload in `raw`.

They live apart from `models` (tunes, prompts, packs) so that a program that never makes
these calls does not build their classes when it imports the client (~2.5 ms of start-up);
import them from `astria_async` or from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._fields_repr import fields_repr
from .models import Tune, raw_field


@attrs.frozen(kw_only=True)
class PackRun:
    """What `POST /p/:pack_id/tunes` answered: a tune, a message, or an order (API notes §8.3).

    `kind` is "tune" (training path; `tune` set), "order" (multi pack; `order_id`, `tune_ids`,
    `prompt_ids` set) or "message" (prompts created on existing tunes; `message` set).
    """

    __repr__ = fields_repr

    kind: str
    tune: Tune | None = None
    message: str | None = None
    order_id: int | None = None
    tune_ids: tuple[int, ...] = ()
    prompt_ids: tuple[int, ...] = ()
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class User:
    """The account behind the API key: `GET /users` (API notes §10.1)."""

    __repr__ = fields_repr

    id: int
    name: str | None = None
    email: str | None = None
    usd_balance_mc: int | None = None
    auto_extend_tunes: bool | None = None
    top_off_amount: float | None = None
    purchased_plugin_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()

    @property
    def balance_usd(self) -> float | None:
        """The balance in dollars: `usd_balance_mc` is in milli-cents (API notes §15)."""
        return None if self.usd_balance_mc is None else self.usd_balance_mc / 100_000


@attrs.frozen(kw_only=True)
class Workspace:
    """A workspace (API notes §1.3, §10.2): scopes tunes, prompts and billing."""

    __repr__ = fields_repr

    id: int
    title: str | None = None
    slug: str | None = None
    brief: str | None = None
    landing_page_html: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class CatalogModel:
    """One named model of the catalogue: the tune id to post prompts to (API notes §10.6)."""

    __repr__ = fields_repr

    name: str
    tune_id: int
    resolutions: tuple[str, ...] = ()
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen(kw_only=True)
class ModelCatalog:
    """`GET /cli/models`: image models by name, video models, defaults (API notes §10.6).

    `source` is "api" when read from Astria, "builtin" when Astria could not be reached and
    the official CLI's built-in ids stand in.
    """

    __repr__ = fields_repr

    default: str | None = None
    default_video_model: str | None = None
    models: Mapping[str, CatalogModel] = attrs.field(factory=dict)
    video_models: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    cache_ttl: float | None = None
    source: str = "api"
    raw: Mapping[str, Any] = raw_field()

    def tune_id(self, name: str) -> int | None:
        """The tune id of a model name (case-insensitive), or None if the catalogue lacks it."""
        found = self.models.get(name) or self.models.get(name.strip().lower())
        return found.tune_id if found else None


# The described attributes of an inspection (API notes §9), in Astria's order.
INSPECTED = ("body_type", "ethnicity", "age", "glasses", "eye_color", "hair_color",
             "hair_length", "hair_style", "facial_hair", "is_bald", "headcover")


@attrs.frozen(kw_only=True)
class ImageInspection:
    """What `POST /images/inspect` saw in a picture (API notes §9).

    String attributes are None when Astria answered "NONE" or ""; `characteristics()` gives
    the ones present, ready for a tune's `characteristics`.
    """

    __repr__ = fields_repr

    name: str | None = None
    body_type: str | None = None
    ethnicity: str | None = None
    age: str | None = None
    glasses: str | None = None
    eye_color: str | None = None
    hair_color: str | None = None
    hair_length: str | None = None
    hair_style: str | None = None
    facial_hair: str | None = None
    is_bald: str | None = None
    headcover: str | None = None
    funny_face: bool | None = None
    wearing_sunglasses: bool | None = None
    wearing_hat: bool | None = None
    blurry: bool | None = None
    includes_multiple_people: bool | None = None
    full_body_image_or_longshot: bool | None = None
    selfie: bool | None = None
    low_resolution: bool | None = None
    low_quality: bool | None = None
    raw: Mapping[str, Any] = raw_field()

    def characteristics(self) -> dict[str, str]:
        """The string attributes that were seen (not "NONE"), `name` left out."""
        return {key: value for key in INSPECTED if (value := getattr(self, key)) is not None}

    @property
    def usable(self) -> bool:
        """False when the picture is a poor training image: blurry, several people, low
        resolution or quality, sunglasses or a funny face."""
        return not any((self.blurry, self.includes_multiple_people, self.low_resolution,
                        self.low_quality, self.wearing_sunglasses, self.funny_face))
