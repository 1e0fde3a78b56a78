"""`client.prompts`: create, get, list, update, duplicate, like, delete."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._config import MAX_PROMPT_OFFSET
from .._convert import structure, structure_many
from .._fields_repr import fields_repr
from .._forms import Body
from ..errors import PromptFailedError
from ..models import Prompt, Tune, tune_refs
from ..waiting.policy import WaitPolicy
from ._base import Paginator, Resource, as_list, check_page, first_object, ident, query

if TYPE_CHECKING:  # `params` and `_families` load on the first call that needs them (start-up)
    from ..params import FileInput, PromptParams

_NOT_FIELDS = ("self", "tune_id", "params", "extra")


def _failure(prompt: Prompt) -> PromptFailedError | None:
    """What a wait that ended on `prompt` raises instead of answering it."""
    return PromptFailedError(prompt) if prompt.is_failed else None


class Prompts(Resource):
    """Generation jobs (API notes §5)."""

    async def create(
        self,
        tune_id: int | str | Tune,
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
        generate_audio: bool | None = None,
        video_first_frame: FileInput | None = None,
        video_first_frame_url: str | None = None,
        video_last_frame: FileInput | None = None,
        video_last_frame_url: str | None = None,
        source_image_url: str | None = None,
        input_video: FileInput | None = None,
        input_video_url: str | None = None,
        audio_reference: FileInput | None = None,
        audio_reference_url: str | None = None,
        video_upscale_model: str | None = None,
        video_upscale_target_resolution: str | None = None,
        video_fps_model: str | None = None,
        image_references: Sequence[FileInput] = (),
        image_reference_urls: Sequence[str] = (),
        params: PromptParams | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Prompt:
        """Create a prompt on a tune (`POST /tunes/:tune_id/prompts`); it costs money.

        Astria runs prompts for Flux/SDXL LoRA and FaceID tunes on the base model (e.g.
        1504944 Flux1.dev) with `<lora:YOUR_TUNE_ID:1>` or `<faceid:ID:1>` in `text` (API notes
        §5.1). When the tune is known to be one (a `Tune` is passed, or this client has seen
        it), the prompt is posted there and the token put first unless the text has it; the
        returned prompt's `tunes` names your tune, and fair use counts against it.

        Args:
            tune_id: the tune (or base model) to run on; a `Tune` works too, and so does a
                model name of the catalogue ("gemini", "seedream", "gpt-image-2").
            params: a prepared `PromptParams`; keyword arguments given here override it.
                Every other keyword is a field of `PromptParams` (see there what each allows).
            extra: API parameters this library does not know yet, sent as given.

        Returns:
            The new prompt (images arrive later: see `wait_images`).

        Raises:
            InvalidParamsError: a parameter is invalid, or one the target model's family is
                known to refuse (Flux: `negative_prompt`, `cfg_scale` >= 5; Seedream: more
                than 4 images; Seedance 2: frames with reference media); nothing was sent.
            GatewayTimeoutError: Astria timed out and the prompt may exist; it was not re-sent
                unless the client is `idempotent=True`.
        """
        fields = {k: v for k, v in locals().items()
                  if k not in _NOT_FIELDS and v is not None and v != ()}
        from ..params import PromptParams, with_extra

        base = params or PromptParams()
        if extra is not None:
            fields["extra"] = with_extra(base.extra, extra)
        return await self.create_from(tune_id, attrs.evolve(base, **fields))

    async def create_from(self, tune_id: int | str | Tune, params: PromptParams) -> Prompt:
        """Create a prompt from a prepared `PromptParams` (batch files use this).

        The fair-use guard (`client.fair_use`) checks it first: a cap it would cross raises
        `FairUseError` with nothing sent, and a full in-flight bound makes it wait for a place.
        """
        # A model name ("gemini") is looked up in the catalogue first.
        target = await self._tune_id(tune_id) if isinstance(tune_id, str) else tune_id
        ident(target, "tune_id")
        if isinstance(target, Tune):
            self._services.seen(target)
        # LoRA/FaceID tunes run on their base model with a <lora:ID:1> token (API notes §5.1).
        route = self._services.routes.route(target, params.text)
        if route.routed:
            params = attrs.evolve(params, text=route.text)
        tid = route.tune_id
        from .._families import check_family

        payload = params.to_payload()
        check_family(payload, tune_id=tid,
                     branch=target.branch if isinstance(target, Tune) else None,
                     name=tune_id if isinstance(tune_id, str) else None)
        body = Body("prompt", payload)
        guard = self._services.fair_use
        async with guard.reserve(tid, params) as place:
            reply = await self._transport.request("POST", f"/tunes/{tid}/prompts", body=body)
            prompt = structure(first_object(reply.data, "prompt"), Prompt, self._binding)
            prompt = route.mark(prompt)
            guard.created(place, prompt)
        self._services.prompt_board.feed(prompt)
        return prompt

    def wait_images(self, prompt_id: int | Prompt, *, timeout: float | None = None,
                    policy: WaitPolicy | None = None,
                    on_update: Callable[[Prompt], None] | None = None,
                    ) -> Coroutine[Any, Any, Prompt]:
        """Wait until the prompt has images, or raise if Astria failed it (API notes §11).

        Await it as an `async def` (or make it a task): every error, a bad argument's too,
        is raised when it is awaited.

        Many waits share one refresh per tick (see `WaitPolicy`); a callback passed to
        `client.feed` ends the wait at once. A callback without images and without a
        `user_error` is progress, not an end.

        Args:
            prompt_id: the prompt or its id (a wait can resume from the id alone).
            timeout: overall deadline in seconds; default the policy's (15 min for prompts).
            policy: the `WaitPolicy`; default the client's prompt policy.
            on_update: called with every new state seen, the finished one included.

        Returns:
            The prompt with its `images`.

        Raises:
            PromptFailedError: Astria set `user_error`; `.prompt` is the failed prompt.
            WaitTimeoutError: not finished in time; `.last` and `.object_id` let you resume.
            NotFoundError: the prompt does not exist (or was deleted).
        """
        return self._wait(self._services.prompt_board, prompt_id, Prompt, policy, timeout,
                          on_update, _failure)

    def watch(self, prompt_id: int | Prompt, *, timeout: float | None = None,
              policy: WaitPolicy | None = None) -> AsyncIterator[Prompt]:
        """Yield each new state of the prompt until it is finished (failed ones end it too).

        Raises:
            WaitTimeoutError: not finished within the timeout.
        """
        oid, pol, initial = self._wait_target(prompt_id, Prompt, "prompt", policy, timeout)
        return self._services.prompt_board.states(oid, pol, initial)

    async def download(self, prompt_id: int | Prompt,
                       directory: str | os.PathLike[str]) -> list[Path]:
        """Save the prompt's images into `directory` as `{tune_id}-{prompt_id}-{index}.{ext}`.

        The prompt is fetched when only its id (or a state without images) is given. Files
        are streamed to a temporary file and renamed when complete; complete files already
        there are skipped, so a re-run finishes an interrupted download. The API key is never
        sent to the image host.

        Returns:
            The file paths, in the order of the prompt's images.

        Raises:
            DownloadError: the prompt has no images, or an image could not be saved (no partial
                file is left).
        """
        oid = ident(prompt_id, "prompt_id")
        board = self._services.prompt_board
        prompt = prompt_id if isinstance(prompt_id, Prompt) else board.get(oid)
        if prompt is None or not prompt.images:
            prompt = await self.get(oid)
        return await self._services.downloader.prompt(prompt, directory)

    async def get(self, prompt_id: int | Prompt, *, tune_id: int | Tune | None = None,
                  expand: Sequence[str] = ()) -> Prompt:
        """Fetch one prompt: `GET /prompts/:id`, or the nested route when `tune_id` is given.

        The nested route needs the tune the prompt was posted to (the base model for LoRA
        prompts) and answers 404 otherwise (API notes §5.2), so the default is the flat one.
        `expand=["debug_images"]` adds the `debug_images` of the processing stages.
        """
        from ..params import expand_names

        names = expand_names("expand", expand) or None
        reply = await self._transport.request("GET", self._path(prompt_id, tune_id),
                                              params=query(expand=names))
        return structure(reply.data, Prompt, self._binding)

    async def update(
        self,
        prompt_id: int | Prompt,
        *,
        tune_id: int | Tune | None = None,
        pack_id: int | None = None,
        base_pack_id: int | None = None,
        workspace_id: int | None = None,
        orig_prompt_id: int | None = None,
    ) -> Prompt:
        """Assign a prompt to a pack (as a template, `pack_id`), record its pack provenance
        (`base_pack_id`) or move it to a workspace: `PATCH /prompts/:id` (API notes §5.4).

        A template (`pack_id`) must use a fine-tuned model, else Astria answers 422.

        Raises:
            InvalidParamsError: no field given, or one is not a positive id; nothing was sent.
        """
        from ..params import PromptUpdateParams

        payload = PromptUpdateParams(pack_id=pack_id, base_pack_id=base_pack_id,
                                     workspace_id=workspace_id,
                                     orig_prompt_id=orig_prompt_id).to_payload()
        reply = await self._transport.request("PATCH", self._path(prompt_id, tune_id),
                                              body=Body("prompt", payload))
        prompt = structure(first_object(reply.data, "prompt"), Prompt, self._binding)
        self._services.prompt_board.feed(prompt)
        return prompt

    async def duplicate(self, prompt_id: int | Prompt, *, image_index: int | None = None,
                        params: PromptParams | None = None, **overrides: Any) -> Prompt:
        """Clone a prompt with some parameters changed: `POST /prompts/:id/duplicate`
        (API notes §5.5); it costs money like any create, and counts against the tune's fair
        use like one: checked before sending when a `Prompt` (which names its tune) is given,
        counted from the answer when only an id is.

        The documented way to animate an image: `duplicate(p, image_index=0,
        video_model="kling", video_prompt="...")` starts the video from image 0 of `p`.

        Args:
            image_index: which image of the original (from 0) the copy starts from.
            params: a prepared `PromptParams` of overrides; keywords given here override it.
            overrides: any `PromptParams` field; the original keeps the rest (text included).

        Raises:
            InvalidParamsError: an unknown or invalid override; nothing was sent.
            FairUseError: the copy would cross the tune's fair-use cap; nothing was sent.
        """
        pid = ident(prompt_id, "prompt_id")
        from ..params import duplicate_payload

        payload = duplicate_payload(image_index, params, overrides)
        body = Body(None, payload)
        guard = self._services.fair_use
        original = prompt_id if isinstance(prompt_id, Prompt) else None
        if original is None or original.tune_id is None:
            # Its tune is unknown until the answer: the copy is counted when it comes back.
            reply = await self._transport.request("POST", f"/prompts/{pid}/duplicate",
                                                  body=body)
            prompt = structure(first_object(reply.data, "prompt"), Prompt, self._binding)
            if prompt.tune_id is not None:
                for tune in guard.charged_tunes(prompt.tune_id, prompt.text):
                    guard.record(tune)
        else:  # the copy runs on the original's tune: checked before anything is sent
            copy = _Copy(payload.get("prompt", {}).get("text") or original.text,
                         payload.get("prompt", {}).get("num_images") or original.num_images)
            async with guard.reserve(original.tune_id, copy) as place:
                reply = await self._transport.request("POST", f"/prompts/{pid}/duplicate",
                                                      body=body)
                prompt = structure(first_object(reply.data, "prompt"), Prompt, self._binding)
                guard.created(place, prompt)
        self._services.prompt_board.feed(prompt)
        return prompt

    async def like(self, prompt_id: int | Prompt) -> None:
        """Like a prompt (`POST /prompts/:id/like`); a pack prompt's template is liked too
        (API notes §9). Liked prompts are listed with `list(liked=True)`."""
        await self._transport.request("POST", f"{self._path(prompt_id, None)}/like", raw=True)

    async def unlike(self, prompt_id: int | Prompt) -> None:
        """Take a like back (`DELETE /prompts/:id/like`, API notes §9)."""
        await self._transport.request("DELETE", f"{self._path(prompt_id, None)}/like",
                                      raw=True)

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
        expand: Sequence[str] = (),
        before_id: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Paginator[Prompt]:
        """Prompts newest first: a tune's (`GET /tunes/:id/prompts`) or all of yours (`/prompts`).

        `await` the result for one page; `async for` it to walk all pages with `before_id`.
        The flags (`liked`, `today`, `is_video`, `is_api`) filter when True (API notes §5.3);
        `expand=["debug_images"]` adds each prompt's debug images.
        """
        check_page(limit, offset, MAX_PROMPT_OFFSET)
        from ..params import expand_names

        names = expand_names("expand", expand) or None
        path = "/prompts" if tune_id is None else f"/tunes/{ident(tune_id, 'tune_id')}/prompts"
        params = {"text": text, "pack_id": pack_id, "base_pack_id": base_pack_id,
                  "user_id": user_id, "orig_prompt_id": orig_prompt_id, "order_id": order_id,
                  "liked": liked, "today": today, "is_video": is_video, "is_api": is_api,
                  "expand": names, "before_id": before_id, "limit": limit, "offset": offset,
                  **(extra or {})}

        async def fetch(page: dict[str, Any]) -> list[Prompt]:
            reply = await self._transport.request("GET", path, params=query(**page))
            items = as_list(reply.data, "prompt")
            return structure_many(items, Prompt, self._binding)

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

    async def charged_to(self, tune_id: int | Tune) -> int:
        """How many prompts on the server count against a tune for fair use.

        Its own prompts (`GET /tunes/:id/prompts`) plus the prompts on base models that
        reference it: LoRA/FaceID prompts live under the base model, so they are found with the
        list's text filter (`GET /prompts?text=:ID:`) and kept if their text really references
        the tune. Usually two requests.
        """
        tid = ident(tune_id, "tune_id")
        seen: set[int] = set()
        async for prompt in self.list(tune_id=tid):
            seen.add(prompt.id)
        async for prompt in self.list(text=f":{tid}:"):
            if tid in tune_refs(prompt.text):
                seen.add(prompt.id)
        return len(seen)


@attrs.frozen
class _Copy:
    """What the fair-use guard reads of a duplicate: the copy's text and image count."""

    __repr__ = fields_repr

    text: str | None
    num_images: int | None
