"""Waiting for prompts and downloading their images, with progress on stderr."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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


async def wait_prompts(client: AstriaClient, out: Output, prompt_ids: Sequence[int],
                       timeout: float | None) -> list[Prompt]:
    """Wait for all the prompts (one shared poll), counting them as they finish."""
    finished: dict[int, Prompt] = {}
    with Progress(out) as progress:
        task = progress.task("finished", len(prompt_ids))
        async for prompt in client.as_completed(list(prompt_ids), timeout=timeout):
            finished[prompt.id] = prompt
            task.advance(note=f"prompt {prompt.id} {outcome(prompt)}")
    return [finished[i] for i in prompt_ids]


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
