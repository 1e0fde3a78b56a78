"""The model catalogue (`GET /cli/models`, API notes §10.6), read once per client, and the
resolution of model names such as "gemini" to the tune ids Astria expects."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._config import BUILTIN_MODELS, MODEL_ENV_VARS, MODELS_CACHE_TTL
from .._convert import _int, _opt_float, _opt_str
from .._http import Transport
from .._validators import fail
from ..errors import APIConnectionError, APIResponseValidationError, APIStatusError

if TYPE_CHECKING:  # `answers` loads when a catalogue is first read (start-up)
    from ..answers import CatalogModel, ModelCatalog


def parse_catalog(data: Any, source: str = "api") -> ModelCatalog:
    """A `/cli/models` answer as a `ModelCatalog`; entries without a tune id are skipped."""
    from ..answers import CatalogModel, ModelCatalog

    if not isinstance(data, Mapping):
        raise APIResponseValidationError(
            f"expected the model catalogue object, got {type(data).__name__}", body=data)
    models: dict[str, CatalogModel] = {}
    entries = data.get("models")
    for name, entry in (entries.items() if isinstance(entries, Mapping) else ()):
        if not isinstance(entry, Mapping) or entry.get("tune_id") in (None, ""):
            continue
        try:
            tune_id = _int(entry["tune_id"])
        except ValueError as exc:
            raise APIResponseValidationError(
                f"model catalogue entry {name!r}: {exc}", field=f"models.{name}.tune_id",
                body=data) from exc
        resolutions = entry.get("resolutions")
        models[str(name)] = CatalogModel(
            name=str(name), tune_id=tune_id, raw=entry,
            resolutions=tuple(str(r) for r in resolutions)
            if isinstance(resolutions, list) else ())
    video = data.get("video_models")
    return ModelCatalog(
        default=_opt_str(data.get("default")),
        default_video_model=_opt_str(data.get("default_video_model")),
        models=models,
        video_models={str(k): v for k, v in video.items() if isinstance(v, Mapping)}
        if isinstance(video, Mapping) else {},
        cache_ttl=_opt_float(data.get("cache_ttl")) if not isinstance(
            data.get("cache_ttl"), (dict, list)) else None,
        source=source, raw=data)


@functools.cache
def builtin_catalog() -> ModelCatalog:
    """The official CLI's built-in model ids as a catalogue (`source="builtin"`)."""
    return parse_catalog(
        {"default": "gemini",
         "models": {name: {"tune_id": tid} for name, tid in BUILTIN_MODELS.items()}},
        source="builtin")


class Catalogue:
    """The catalogue of one client: fetched on first need, kept for its `cache_ttl`."""

    def __init__(self, transport: Transport, clock: Callable[[], float] = time.monotonic,
                 environ: Mapping[str, str] | None = None) -> None:
        self._transport = transport
        self._clock = clock
        self._environ = environ
        self._cached: ModelCatalog | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, *, refresh: bool = False) -> ModelCatalog:
        """The catalogue; `refresh=True` reads it again. Errors are raised, never cached."""
        async with self._lock:  # one request however many resolutions wait for it
            if refresh or self._cached is None or self._clock() >= self._expires:
                reply = await self._transport.request("GET", "/cli/models", workspace=False)
                catalog = parse_catalog(reply.data)
                ttl = catalog.cache_ttl if catalog.cache_ttl is not None else MODELS_CACHE_TTL
                self._cached, self._expires = catalog, self._clock() + max(ttl, 0.0)
            return self._cached

    async def get_or_builtin(self, *, refresh: bool = False) -> ModelCatalog:
        """The catalogue, or the official CLI's built-in ids (`source="builtin"`) when it
        cannot be read (Astria unreachable, an error status, a malformed answer)."""
        try:
            return await self.get(refresh=refresh)
        except (APIConnectionError, APIStatusError, APIResponseValidationError):
            return builtin_catalog()

    async def resolve(self, field: str, value: int | str) -> int:
        """A tune id for `value`: an int as is; a name from `<NAME>_TUNE_ID`, the catalogue,
        or (only when the catalogue cannot be read) the official CLI's built-in ids."""
        from ..params import tune_ref

        name = tune_ref(field, value)
        if isinstance(name, int):
            return name
        env = os.environ if self._environ is None else self._environ
        override = env.get(MODEL_ENV_VARS.get(name, f"{name.upper().replace('-', '_')}_TUNE_ID"))
        if override and override.strip().isdigit():
            return int(override)
        catalog = await self.get_or_builtin()
        found = catalog.tune_id(name)
        if found is None:
            known = ", ".join(sorted(catalog.models)) or "none"
            where = ("the catalogue (GET /cli/models) could not be read; the built-in names are"
                     if catalog.source == "builtin" else "the catalogue has")
            fail(field, f"unknown model {value!r}; {where}: {known}")
        return found

