"""`client.prompts`: create, get, list, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._convert import structure
from .._forms import Body
from ..models import Prompt, Tune
from ..params import FileInput, PromptParams
from ._base import Paginator, Resource, as_list, check_page, first_object, ident, query

MAX_PROMPT_OFFSET = 10_000  # astria-api §5.3: offset above 10,000 answers 400
_NOT_FIELDS = ("self", "tune_id", "params", "extra")


class Prompts(Resource):
    """Generation jobs (astria-api §5)."""

    async def create(
        self,
        tune_id: int | Tune,
        *,
        text: str | None = None,
        negative_prompt: str | None = None,
        callback: str | None = None,
        num_images: int | None = None,
        seed: int | None = None,
        workspace_id: int | None = None,
        community: bool | None = None,
        super_resolution: bool | None = None,
        inpaint_faces: bool | None = None,
        hires_fix: bool | None = None,
        face_correct: bool | None = None,
        face_swap: bool | None = None,
        film_grain: bool | None = None,
        color_grading: str | None = None,
        style: str | None = None,
        prompt_expansion: bool | None = None,
        theme: str | None = None,
        cfg_scale: float | None = None,
        steps: int | None = None,
        use_lpw: bool | None = None,
        scheduler: str | None = None,
        backend_version: int | str | None = None,
        w: int | None = None,
        h: int | None = None,
        aspect_ratio: str | None = None,
        ar: str | None = None,
        resolution: str | None = None,
        controlnet: str | None = None,
        denoising_strength: float | None = None,
        controlnet_conditioning_scale: float | None = None,
        controlnet_txt2img: bool | None = None,
        input_image: FileInput | None = None,
        input_image_url: str | None = None,
        input_image_base64: str | None = None,
        mask_image: FileInput | None = None,
        mask_image_url: str | None = None,
        pack_id: int | None = None,
        base_pack_id: int | None = None,
        video_model: str | None = None,
        video_prompt: str | None = None,
        video_duration: int | None = None,
        video_audio: bool | None = None,
        video_first_frame_url: str | None = None,
        video_last_frame_url: str | None = None,
        image_reference_urls: Sequence[str] = (),
        params: PromptParams | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Prompt:
        """Create a prompt on a tune (`POST /tunes/:tune_id/prompts`); it costs money.

        For Flux/SDXL LoRA and FaceID tunes, post to the base model (e.g. 1504944 Flux1.dev)
        with `<lora:YOUR_TUNE_ID:1>` or `<faceid:ID:1>` in `text` (astria-api §5.1).

        Args:
            tune_id: the tune (or base model) to run on; a `Tune` works too.
            params: a prepared `PromptParams`; keyword arguments given here override it.
            extra: API parameters this library does not know yet, sent as given.

        Returns:
            The new prompt (images arrive later: see `wait_images`).

        Raises:
            InvalidParamsError: a parameter is invalid; nothing was sent.
            GatewayTimeoutError: Astria timed out and the prompt may exist; it was not re-sent
                unless the client is `idempotent=True`.
        """
        fields = {k: v for k, v in locals().items()
                  if k not in _NOT_FIELDS and v is not None and v != ()}
        if "image_reference_urls" in fields:
            fields["image_reference_urls"] = tuple(image_reference_urls)
        base = params or PromptParams()
        if extra:
            fields["extra"] = {**base.extra, **extra}
        return await self.create_from(tune_id, attrs.evolve(base, **fields))

    async def create_from(self, tune_id: int | Tune, params: PromptParams) -> Prompt:
        """Create a prompt from a prepared `PromptParams` (batch files use this)."""
        path = f"/tunes/{ident(tune_id, 'tune_id')}/prompts"
        body = Body("prompt", params.to_payload())
        reply = await self._transport.request("POST", path, body=body)
        return structure(first_object(reply.data, "prompt"), Prompt, self._client)

    async def get(self, prompt_id: int | Prompt, *, tune_id: int | Tune | None = None) -> Prompt:
        """Fetch one prompt: `GET /prompts/:id`, or the nested route when `tune_id` is given.

        The nested route needs the tune the prompt was posted to (the base model for LoRA
        prompts) and answers 404 otherwise (astria-api §5.2), so the default is the flat one.
        """
        reply = await self._transport.request("GET", self._path(prompt_id, tune_id))
        return structure(reply.data, Prompt, self._client)

    def list(
        self,
        *,
        tune_id: int | Tune | None = None,
        text: str | None = None,
        pack_id: int | None = None,
        base_pack_id: int | None = None,
        user_id: int | None = None,
        orig_prompt_id: int | None = None,
        order_id: int | None = None,
        liked: bool | None = None,
        today: bool | None = None,
        is_video: bool | None = None,
        is_api: bool | None = None,
        before_id: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Paginator[Prompt]:
        """Prompts newest first: a tune's (`GET /tunes/:id/prompts`) or all of yours (`/prompts`).

        `await` the result for one page; `async for` it to walk all pages with `before_id`.
        """
        check_page(limit, offset, MAX_PROMPT_OFFSET)
        path = "/prompts" if tune_id is None else f"/tunes/{ident(tune_id, 'tune_id')}/prompts"
        params = {"text": text, "pack_id": pack_id, "base_pack_id": base_pack_id,
                  "user_id": user_id, "orig_prompt_id": orig_prompt_id, "order_id": order_id,
                  "liked": liked, "today": today, "is_video": is_video, "is_api": is_api,
                  "before_id": before_id, "limit": limit, "offset": offset, **(extra or {})}

        async def fetch(page: dict[str, Any]) -> list[Prompt]:
            reply = await self._transport.request("GET", path, params=query(**page))
            items = as_list(reply.data, "prompt")
            return [structure(item, Prompt, self._client) for item in items]

        return Paginator(fetch, params, id_of=lambda p: p.id)

    async def delete(self, prompt_id: int | Prompt, *, tune_id: int | Tune | None = None) -> None:
        """Delete a prompt and its images; 200 (with or without a message) and 204 both succeed."""
        await self._transport.request("DELETE", self._path(prompt_id, tune_id), raw=True)

    @staticmethod
    def _path(prompt_id: int | Prompt, tune_id: int | Tune | None) -> str:
        pid = ident(prompt_id, "prompt_id")
        if tune_id is None:
            return f"/prompts/{pid}"
        return f"/tunes/{ident(tune_id, 'tune_id')}/prompts/{pid}"
