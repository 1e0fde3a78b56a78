"""`astria download` and `astria download-all`: images to disk, resumable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from ._progress import Progress
from ._root import ID, json_option, state
from ._targets import gather_ids
from ._waits import DOWNLOAD_CONCURRENCY, download_prompts, wait_prompts

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..models import Prompt

OUT = click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
                   default=Path("."), show_default=True, help="Folder for the images.")


@click.command(short_help="Download prompts' images (skips complete files).")
@click.argument("prompt_ids", type=ID, nargs=-1)
@click.option("--prompts-file", type=click.File("r"), metavar="FILE",
              help="Read ids from FILE ('-': stdin): numbers, or the JSON `--json` prints.")
@OUT
@click.option("--wait", is_flag=True, help="Wait for prompts that are not finished yet.")
@click.option("--timeout", type=float, help="Seconds --wait may take.")
@json_option
@click.pass_context
def download(ctx: click.Context, prompt_ids: tuple[int, ...], prompts_file: TextIO | None,
             out: Path, wait: bool, timeout: float | None) -> None:
    """Download the images of prompts; files already complete are skipped.

    Ids come from the arguments, --prompts-file, or stdin when it is not a terminal.
    """
    st = state(ctx)
    ids = gather_ids(prompt_ids, prompts_file)

    async def go(client: AstriaClient) -> tuple[list[Prompt], list[Path]]:
        if wait:
            prompts = await wait_prompts(client, st.out, ids, timeout)
        else:
            prompts = list(await asyncio.gather(*(client.prompts.get(i) for i in ids)))
        for p in prompts:
            if p.is_failed:
                st.out.log(f"prompt {p.id} failed: {p.user_error}")
            elif not p.images:
                st.out.log(f"prompt {p.id} has no images yet (add --wait to wait for it)")
        return prompts, await download_prompts(client, st.out, prompts, out)

    prompts, paths = st.run(go)
    missing = [p.id for p in prompts if not p.images or p.is_failed]
    st.out.result({"files": [str(p) for p in paths], "without_images": missing},
                  text=f"{len(paths)} image(s) in {out}")
    if missing:
        ctx.exit(1)


async def _walk(client: AstriaClient, tune_ids: tuple[int, ...],
                limit: int | None) -> AsyncIterator[tuple[int | None, Prompt]]:
    """Prompts newest first: of each tune, or of the whole account; at most `limit` in all."""
    seen = 0
    sources: list[int | None] = list(tune_ids) or [None]
    for tune_id in sources:
        async for prompt in client.prompts.list(tune_id=tune_id):
            if limit is not None and seen >= limit:
                return
            seen += 1
            yield tune_id, prompt


@click.command("download-all", short_help="Download all images of tunes or the account.")
@click.option("--tune", "tune_ids", type=ID, multiple=True,
              help="Only this tune's prompts (repeatable) [default: the whole account].")
@click.option("--limit", type=click.IntRange(1), help="At most this many prompts.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("astria-images"), show_default=True, help="Folder for the images.")
@json_option
@click.pass_context
def download_all(ctx: click.Context, tune_ids: tuple[int, ...], limit: int | None,
                 out: Path) -> None:
    """Download every image of tunes (or of the account) into OUT/<tune id>/.

    Resumable: run it again after an interruption and files already complete are skipped.
    """
    import anyio

    st = state(ctx)
    stats: dict[str, Any] = {"prompts": 0, "pending": 0, "failed": 0, "files": 0}

    async def go(client: AstriaClient) -> None:
        gate = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)
        with Progress(st.out) as progress:
            images = progress.task("download", 0)

            async def one(folder: Path, prompt: Prompt) -> None:
                async with gate:
                    got = await client.prompts.download(prompt, folder)
                stats["files"] += len(got)
                images.advance(len(got), note=f"prompt {prompt.id} -> {folder}")

            async with anyio.create_task_group() as tg:
                async for tune_id, prompt in _walk(client, tune_ids, limit):
                    stats["prompts"] += 1
                    if prompt.is_failed or not prompt.images:
                        stats["failed" if prompt.is_failed else "pending"] += 1
                        continue
                    images.set_total((images.total or 0) + len(prompt.images))
                    # LoRA/FaceID prompts live under a base model: file them under the
                    # user's tune they reference (API notes §4).
                    mine = tune_id or next(iter(prompt.referenced_tune_ids), prompt.tune_id)
                    folder = out / str(mine)
                    tg.start_soon(one, folder, prompt)

    st.run(go)
    st.out.result({**stats, "out": str(out)},
                  text=f"{stats['files']} image(s) from {stats['prompts']} prompt(s) in {out} "
                       f"({stats['pending']} unfinished, {stats['failed']} failed)")

