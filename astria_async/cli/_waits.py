"""Waiting for prompts and downloading their images, with progress on stderr."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AstriaError
from ._progress import Progress

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..models import Prompt
    from ._output import Output

# Prompts downloaded at once; each prompt's images are fetched concurrently by the library.
DOWNLOAD_CONCURRENCY = 4


def outcome(prompt: Prompt) -> str:
    """How a finished prompt ended, for a log line."""
    if prompt.is_failed:
        return f"failed: {prompt.user_error}"
    return f"{len(prompt.images)} image(s)"


async def wait_each(client: AstriaClient, out: Output, prompt_ids: Sequence[int],
                    timeout: float | None) -> list[Prompt | AstriaError]:
    """Wait for each prompt (one shared poll for all), counting them as they end.

    A prompt that does not exist (404), may not be read (403) or did not finish in time ends
    as its error, in its place in the list; the others are still waited for. Errors that
    concern every prompt (a bad key, no connection) are raised.
    """
    from ..errors import (
        NotFoundError,
        PermissionDeniedError,
        PromptFailedError,
        WaitTimeoutError,
    )

    ended: dict[int, Prompt | AstriaError] = {}
    with Progress(out) as progress:
        task = progress.task("finished", len(prompt_ids))

        async def one(prompt_id: int) -> None:
            result: Prompt | AstriaError
            try:
                result = await client.prompts.wait_images(prompt_id, timeout=timeout)
            except PromptFailedError as exc:
                result = exc.prompt
            except (NotFoundError, PermissionDeniedError, WaitTimeoutError) as exc:
                result = exc
            ended[prompt_id] = result
            note = (outcome(result) if not isinstance(result, AstriaError)
                    else type(result).__name__)
            task.advance(note=f"prompt {prompt_id} {note}")

        await asyncio.gather(*(one(i) for i in prompt_ids))
    return [ended[i] for i in prompt_ids]


async def wait_prompts(client: AstriaClient, out: Output, prompt_ids: Sequence[int],
                       timeout: float | None) -> list[Prompt]:
    """Wait for all the prompts; the first that cannot end (404, timeout) raises."""
    results = await wait_each(client, out, prompt_ids, timeout)
    for result in results:
        if isinstance(result, AstriaError):
            raise result
    return [r for r in results if not isinstance(r, AstriaError)]


async def download_prompts(client: AstriaClient, out: Output, prompts: Sequence[Prompt],
                           directory: Path) -> list[Path]:
    """Download the images of finished prompts into `directory` (complete files are kept)."""
    ready = [p for p in prompts if p.images and not p.is_failed]
    paths: list[Path] = []
    gate = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)
    with Progress(out) as progress:
        task = progress.task("download", sum(len(p.images) for p in ready))

        async def one(prompt: Prompt) -> None:
            async with gate:
                got = await client.prompts.download(prompt, directory)
            paths.extend(got)
            task.advance(len(got), note=f"prompt {prompt.id} -> {directory}")

        await asyncio.gather(*(one(p) for p in ready))
    return paths
