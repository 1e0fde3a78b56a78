"""`client.tunes`: create, get, list, update, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._config import GALLERY_PAGE_LIMIT, MAX_TUNE_OFFSET, PAGE_LIMIT
from .._convert import structure, structure_many
from .._forms import Body
from ..models import Tune
from ..waiting.policy import WaitPolicy
from ._base import Paginator, Resource, as_list, check_page, first_object, ident, query

if TYPE_CHECKING:  # `params` and `_families` load on the first call that needs them (start-up)
    from ..params import FileInput, PromptParams, TuneParams


class Tunes(Resource):
    """Fine-tunes and references (API notes §3)."""

    async def create(
        self,
        *,
        title: str,
        name: str,
        images: Sequence[FileInput] = (),
        image_urls: Sequence[str] = (),
        branch: str | None = None,
        callback: str | None = None,
        base_tune_id: int | str | None = None,
        model_type: str | None = None,
        token: str | None = None,
        steps: int | None = None,
        face_crop: bool | None = None,
        training_face_correct: bool | None = None,
        preset: str | None = None,
        characteristics: Mapping[str, str | int | float] | None = None,
        auto_extend: bool | None = None,
        base_pack_id: int | None = None,
        prompts_callback: str | None = None,
        prompts: Sequence[PromptParams] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> Tune:
        """Create a tune; training starts at once and is paid unless `branch="fast"`.

        Args:
            title: the job's description; with account idempotency on it is the idempotency
                key, so use a UUID or transaction id (API notes §14).
            name: the class noun (`man`, `woman`, `dog`, `ring`...).
            images: local training images (paths, bytes or binary files), streamed as multipart.
            image_urls: hosted training images.
            prompts: prompts to run once training completes (`lora_scale` allowed here).
            extra: API parameters this library does not know yet, sent as given.

        Returns:
            The new tune (FaceID/Gemini references come back already trained).

        Raises:
            InvalidParamsError: a parameter is invalid; nothing was sent.
            GatewayTimeoutError: Astria timed out and the tune may exist; it was not re-sent
                unless the client is `idempotent=True`.
        """
        from ..params import TuneParams

        params = TuneParams(
            title=title, name=name, images=images, image_urls=image_urls, branch=branch,
            callback=callback, base_tune_id=base_tune_id, model_type=model_type, token=token,
            steps=steps, face_crop=face_crop, training_face_correct=training_face_correct,
            preset=preset, characteristics=characteristics, auto_extend=auto_extend,
            base_pack_id=base_pack_id, prompts_callback=prompts_callback,
            prompts=prompts, extra=extra or {},
        )
        return await self.create_from(params)

    async def create_from(self, params: TuneParams) -> Tune:
        """Create a tune from a prepared `TuneParams`."""
        from .._families import check_family

        payload = params.to_payload()
        if isinstance(payload.get("base_tune_id"), str):  # a model name: its tune id
            payload["base_tune_id"] = await self._tune_id(payload["base_tune_id"],
                                                          "base_tune_id")
        # The tune's own prompts run on its base model: its family's rules apply to them.
        for index, prompt in enumerate(payload.get("prompts_attributes", ())):
            check_family(prompt, tune_id=payload.get("base_tune_id"), branch=params.branch,
                         name=params.base_tune_id if isinstance(params.base_tune_id, str)
                         else None, where=f"prompts[{index}].")
        body = Body("tune", payload)
        reply = await self._transport.request("POST", "/tunes", body=body)
        tune = self._seen(first_object(reply.data, "tune"))
        if params.prompts:  # they run once it is trained and count against it (fair use)
            self._services.fair_use.record(tune.id, len(params.prompts))
        return tune

    async def get(self, tune_id: int | Tune) -> Tune:
        """Fetch one tune (`GET /tunes/:id`)."""
        reply = await self._transport.request("GET", f"/tunes/{ident(tune_id, 'tune_id')}")
        return self._seen(reply.data)

    def _seen(self, data: Any) -> Tune:
        # Fair use remembers free `fast` tunes; routing, LoRA/FaceID tunes.
        tune = structure(data, Tune, self._binding)
        self._services.seen(tune)
        return tune

    def wait_trained(self, tune_id: int | Tune, *, timeout: float | None = None,
                     policy: WaitPolicy | None = None,
                     on_update: Callable[[Tune], None] | None = None,
                     ) -> Coroutine[Any, Any, Tune]:
        """Wait until the tune is trained (`trained_at` set, API notes §11).

        Await it as an `async def` (or make it a task): every error, a bad argument's too,
        is raised when it is awaited.

        Many waits share one refresh per tick (see `WaitPolicy`); a callback passed to
        `client.feed` ends the wait at once.

        Args:
            tune_id: the tune or its id (a wait can resume from the id alone).
            timeout: overall deadline in seconds; default the policy's (2 h for tunes).
            policy: the `WaitPolicy`; default the client's tune policy.
            on_update: called with every new state seen, the trained one included.

        Returns:
            The trained tune.

        Raises:
            WaitTimeoutError: not trained in time; `.last` and `.object_id` let you resume.
            NotFoundError: the tune does not exist (or was deleted).
        """
        return self._wait(self._services.tune_board, tune_id, Tune, policy, timeout, on_update)

    def watch(self, tune_id: int | Tune, *, timeout: float | None = None,
              policy: WaitPolicy | None = None) -> AsyncIterator[Tune]:
        """Yield each new state of the tune until it is trained (for progress displays).

        Raises:
            WaitTimeoutError: not trained within the timeout.
        """
        oid, pol, initial = self._wait_target(tune_id, Tune, "tune", policy, timeout)
        return self._services.tune_board.states(oid, pol, initial)

    def list(
        self,
        *,
        title: str | None = None,
        name: str | Sequence[str] | None = None,
        model_type: str | None = None,
        branch: str | None = None,
        before_id: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        gallery: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> Paginator[Tune]:
        """Your tunes newest first (or the public gallery with `gallery=True`).

        `await` the result for one page; `async for` it to walk all pages with `before_id`.
        """
        check_page(limit, offset, MAX_TUNE_OFFSET,
                   GALLERY_PAGE_LIMIT if gallery else PAGE_LIMIT)
        names = [name] if isinstance(name, str) else list(name) if name else None
        params = {"title": title, "name": names, "model_type": model_type, "branch": branch,
                  "before_id": before_id, "limit": limit, "offset": offset, **(extra or {})}
        path = "/gallery/tunes" if gallery else "/tunes"

        async def fetch(page: dict[str, Any]) -> list[Tune]:
            reply = await self._transport.request("GET", path, params=query(**page))
            tunes = structure_many(as_list(reply.data, "tune"), Tune, self._binding)
            for tune in tunes:
                self._services.seen(tune, gallery=gallery)
            return tunes

        return Paginator(fetch, params, id_of=lambda t: t.id)

    async def update(
        self,
        tune_id: int | Tune,
        *,
        title: str | None = None,
        name: str | None = None,
        auto_extend: bool | None = None,
        characteristics: Mapping[str, str | int | float] | None = None,
    ) -> Tune:
        """Change a tune's title, class name, auto-extend or characteristics (`PATCH`)."""
        from ..params import validate_update

        payload = validate_update(title=title, name=name, auto_extend=auto_extend,
                                  characteristics=characteristics)
        reply = await self._transport.request("PATCH", f"/tunes/{ident(tune_id, 'tune_id')}",
                                              body=Body("tune", payload))
        return self._seen(first_object(reply.data, "tune"))

    async def delete(self, tune_id: int | Tune) -> None:
        """Delete a tune with its training and generated images (irreversible)."""
        await self._transport.request("DELETE", f"/tunes/{ident(tune_id, 'tune_id')}", raw=True)
