"""`client.packs`: list, get, create, create_tune."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._convert import _ints, structure, structure_many
from .._forms import Body
from ..errors import APIResponseValidationError, InvalidParamsError
from ..models import Pack, Tune
from ._base import Paginator, Resource, as_list, first_object, query

if TYPE_CHECKING:  # `answers` and `params` load on the first call that needs them (start-up)
    from ..answers import PackRun
    from ..params import FileInput, PromptParams


class Packs(Resource):
    """Packs, called templates in Astria's GUI (API notes §8)."""

    def list(self, *, gallery: bool = False, public: bool | None = None,
             listed: bool | None = None, limit: int | None = None,
             offset: int | None = None) -> Paginator[Pack]:
        """Your packs (`GET /packs`) or the public ones (`gallery=True`, `GET /gallery/packs`).

        Packs have no keyset paging, so `async for` yields the one page asked for.
        """
        path = "/gallery/packs" if gallery else "/packs"
        params = {"public": public, "listed": listed, "limit": limit, "offset": offset}

        async def fetch(page: dict[str, Any]) -> list[Pack]:
            reply = await self._transport.request("GET", path, params=query(**page))
            return structure_many(as_list(reply.data, "pack"), Pack)

        return Paginator(fetch, params)

    async def get(self, pack_id_or_slug: int | str) -> Pack:
        """One pack by id or slug (`GET /p/:id_or_slug`)."""
        reply = await self._transport.request("GET", f"/p/{_pack_ref(pack_id_or_slug)}")
        return structure(reply.data, Pack)

    async def create(self, *, title: str, base_tune_id: int | str,
                     model_type: str | None = None, subtitle: str | None = None) -> Pack:
        """Create an empty pack on a base model (`POST /packs`, API notes §8.4).

        Add template prompts to it with `client.prompts.update(prompt_id, pack_id=pack.id)`.

        Args:
            title: the pack's title.
            base_tune_id: the base model's tune id, or a catalogue name such as "gemini".
            model_type: `lora`, `pti` or `faceid` (the tunes the pack trains).
            subtitle: a one-line description.

        Raises:
            InvalidParamsError: a parameter is invalid; nothing was sent.
        """
        from ..params import PackParams

        payload = PackParams(title=title, base_tune_id=base_tune_id, model_type=model_type,
                             subtitle=subtitle).to_payload()
        payload["base_tune_id"] = await self._tune_id(payload["base_tune_id"], "base_tune_id")
        reply = await self._transport.request("POST", "/packs", body=Body("pack", payload))
        return structure(first_object(reply.data, "pack"), Pack)

    async def create_tune(
        self,
        pack_id_or_slug: int | str,
        *,
        title: str,
        name: str,
        images: Sequence[FileInput] = (),
        image_urls: Sequence[str] = (),
        callback: str | None = None,
        characteristics: Mapping[str, str | int | float] | None = None,
        preset: str | None = None,
        prompt_attributes: PromptParams | None = None,
        prompts_callback: str | None = None,
        tune_ids: Sequence[int] = (),
        prompt_ids: Sequence[int] = (),
        brief: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> PackRun:
        """Train a tune from a pack and run its prompts (`POST /p/:pack_id/tunes`); it costs money.

        With `tune_ids` the pack runs on existing tunes instead of training a new one.

        Returns:
            A `PackRun`: `kind` "tune" (the new tune), "order" (ids of the prompts created) or
            "message" (prompts created; list them with `client.prompts.list(tune_id=...)`).

        Raises:
            InvalidParamsError: a parameter is invalid; nothing was sent.
        """
        from ..params import PackTuneParams

        params = PackTuneParams(
            title=title, name=name, images=images, image_urls=image_urls, callback=callback,
            characteristics=characteristics, preset=preset, prompt_attributes=prompt_attributes,
            prompts_callback=prompts_callback, tune_ids=tune_ids,
            prompt_ids=prompt_ids, brief=brief, extra=extra or {},
        )
        path = f"/p/{_pack_ref(pack_id_or_slug)}/tunes"
        reply = await self._transport.request("POST", path,
                                              body=Body("tune", params.to_payload()))
        return self._run(reply.data)

    def _run(self, data: Any) -> PackRun:
        # The answer is polymorphic (API notes §8.3): a tune, an order, or a bare message.
        from ..answers import PackRun

        if isinstance(data, list):
            data = data[0] if data else None
        if not isinstance(data, Mapping):
            raise APIResponseValidationError(
                f"expected an object from POST /p/:id/tunes, got {type(data).__name__}", body=data)
        order = data.get("order")
        if isinstance(order, Mapping):
            return PackRun(kind="order", order_id=order.get("id"),
                           tune_ids=_ints(order.get("tune_ids")),
                           prompt_ids=_ints(data.get("prompt_ids")), raw=data)
        if "id" in data or isinstance(data.get("tune"), Mapping):
            tune = structure(data, Tune, self._binding)
            self._services.seen(tune)
            return PackRun(kind="tune", tune=tune, raw=data)
        message = data.get("message")
        if isinstance(message, str):
            return PackRun(kind="message", message=message,
                           prompt_ids=_ints(data.get("prompt_ids")), raw=data)
        raise APIResponseValidationError("unrecognised answer from POST /p/:id/tunes", body=data)


# A slug is one URL path segment of letters, digits, '-' and '_' (e.g. corporate-headshots):
# '..', '%2e%2e' or 'x#y' would post somewhere else, e.g. to /tunes, and buy a plain tune.
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _pack_ref(value: int | str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidParamsError("pack_id", f"must be a pack id or slug, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise InvalidParamsError("pack_id", f"must be a positive id, got {value!r}")
        return str(value)
    text = value.strip()
    if not _SLUG.fullmatch(text):
        raise InvalidParamsError("pack_id", "a slug is letters, digits, '-' and '_' (e.g. "
                                 f"'corporate-headshots'), got {value!r}")
    return text
