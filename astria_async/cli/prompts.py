"""`astria prompts create|get|list|delete|wait` and `astria gen`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from ._output import jsonable, when
from ._root import json_option, json_value, key_values, state
from ._targets import TUNE_REF, add_references, gather_ids, media, parse_references
from ._waits import download_prompts, wait_prompts

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..models import Prompt
    from ._output import Output

F = TypeVar("F", bound=Callable[..., Any])
COLUMNS = ("id", "tune", "text", "images", "state", "created")


def state_of(p: Prompt) -> str:
    """finished / failed / pending, by Astria's settle rule (API notes §11)."""
    return "failed" if p.is_failed else "done" if p.images else "pending"


def prompt_row(p: Prompt) -> tuple[Any, ...]:
    """A prompt as a table row."""
    text = (p.text or "")[:60] + ("…" if len(p.text or "") > 60 else "")
    return (p.id, p.tune_id, text, len(p.images), state_of(p), when(p.created_at))


def show_prompts(out: Output, prompts: list[Prompt], *, urls: bool = False) -> None:
    """Prompts as a JSON list, or a table (with image URLs when asked)."""
    table = out.table(COLUMNS, (prompt_row(p) for p in prompts))
    out.result([jsonable(p) for p in prompts], table=table)
    if urls and not out.json:
        for p in prompts:
            for url in p.images:
                out.out.print(url, markup=False, highlight=False)
            if p.is_failed:
                out.log(f"prompt {p.id} failed: {p.user_error}")


def prompt_options(fn: F) -> F:
    """The prompt parameters shared by `prompts create` and `gen`."""
    options = [
        click.argument("tune_id", **TUNE_REF),
        click.argument("text"),
        click.option("-n", "--num-images", type=int, help="1-8 images."),
        click.option("--negative", "negative_prompt", help="Negative prompt (not on Flux)."),
        click.option("--seed", type=int),
        click.option("--cfg-scale", type=float),
        click.option("--steps", type=int),
        click.option("--aspect-ratio", help="1:1, 16:9, 9:16, 3:2, 2:3, 4:5..."),
        click.option("--resolution", type=click.Choice(["1K", "2K", "4K"])),
        click.option("--super-resolution/--no-super-resolution", default=None),
        click.option("--input-image", metavar="FILE|URL", help="Image for img2img/edits."),
        click.option("--mask-image", metavar="FILE|URL", help="Inpainting mask (with "
                     "--input-image)."),
        click.option("--reference", "references", multiple=True, metavar="NAME=PATH_OR_URL",
                     help="Create a FaceID reference of NAME on the model and put "
                          "<faceid:ID:1> NAME in the text (repeatable)."),
        click.option("--callback", metavar="URL", help="Called by Astria when done."),
        click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="Any other prompt parameter, e.g. -p style=Cinematic -p "
                          "face_correct=true (values parsed as JSON when they can be)."),
        click.option("--timeout", type=float, help="Seconds a wait may take."),
        json_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _create_kwargs(params: tuple[str, ...], input_image: str | None,
                   options: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in options.items() if v is not None and k != "mask_image"}
    kwargs.update(media("input_image", input_image))
    kwargs.update(media("mask_image", options.get("mask_image")))
    extra = {k: json_value(v) for k, v in key_values(params, "--param")}
    import attrs

    from ..params import PromptParams

    fields = attrs.fields_dict(PromptParams)
    known = {k: v for k, v in extra.items() if k in fields and k != "extra"}
    unknown = {k: v for k, v in extra.items() if k not in known}
    for key in known:
        if key in kwargs:
            raise click.UsageError(f"{key} is given twice (as an option and with --param)")
    return {**kwargs, "params": PromptParams(**known), "extra": unknown or None}


def create_and_wait(ctx: click.Context, tune_id: int | str, text: str | None, wait: bool,
                    download: Path | None, timeout: float | None, params: tuple[str, ...],
                    input_image: str | None, options: dict[str, Any]) -> None:
    """Create one prompt, optionally wait for it and download its images."""
    st = state(ctx)
    references = parse_references(options.pop("references", ()))
    kwargs = _create_kwargs(params, input_image, options)

    async def go(client: AstriaClient) -> list[Prompt]:
        nonlocal text
        if references:  # FaceID references made on the fly, as Astria's CLI does
            text, kwargs["video_prompt"] = await add_references(
                client, st.out, references, tune_id, [text, kwargs.get("video_prompt")])
        prompt = await client.prompts.create(tune_id, text=text, **kwargs)
        st.out.log(f"created prompt {prompt.id} on tune {tune_id}")
        if not (wait or download):
            return [prompt]
        done = await wait_prompts(client, st.out, [prompt.id], timeout)
        if download is not None:
            await download_prompts(client, st.out, done, download)
        return done

    done = st.run(go)
    show_prompts(st.out, done, urls=wait or download is not None)
    if any(p.is_failed for p in done):
        ctx.exit(1)


@click.group(short_help="Create, list, wait for and delete prompts.")
def prompts() -> None:
    """Prompts (generation jobs): create, inspect, list, delete, wait for images."""


@prompts.command("create")
@prompt_options
@click.option("--wait", is_flag=True, help="Wait for the images.")
@click.option("--download", type=click.Path(file_okay=False, path_type=Path),
              help="Wait, then download the images into this folder.")
@click.pass_context
def create_prompt(ctx: click.Context, /, tune_id: int | str, text: str, wait: bool,
                  download: Path | None, timeout: float | None, params: tuple[str, ...],
                  input_image: str | None, **options: Any) -> None:
    """Create a prompt on a tune (paid unless the tune is --fast)."""
    create_and_wait(ctx, tune_id, text, wait, download, timeout, params, input_image, options)


@click.command(short_help="Create a prompt, wait, download the images.")
@prompt_options
@click.option("--no-wait", is_flag=True, help="Only create; print the prompt id.")
@click.option("-o", "--download", type=click.Path(file_okay=False, path_type=Path),
              help="Download the images into this folder.")
@click.pass_context
def gen(ctx: click.Context, /, tune_id: int | str, text: str, no_wait: bool, download: Path | None,
        timeout: float | None, params: tuple[str, ...], input_image: str | None,
        **options: Any) -> None:
    """Generate: create a prompt, wait for its images, optionally download them."""
    if no_wait and download is not None:
        raise click.UsageError("--download needs the images: drop --no-wait")
    create_and_wait(ctx, tune_id, text, not no_wait, download, timeout, params, input_image,
                    options)


@prompts.command("get")
@click.argument("prompt_id", type=int)
@click.option("--tune", "tune_id", type=int,
              help="The tune it was posted to (GET the nested route).")
@click.option("--expand", multiple=True, type=click.Choice(["debug_images"]),
              help="Add fields (debug_images).")
@json_option
@click.pass_context
def get_prompt(ctx: click.Context, prompt_id: int, tune_id: int | None,
               expand: tuple[str, ...]) -> None:
    """Show one prompt with its image URLs."""
    st = state(ctx)
    prompt = st.run(lambda c: c.prompts.get(prompt_id, tune_id=tune_id, expand=expand))
    data = jsonable(prompt)
    st.out.result(data, table=st.out.fields(data, title=f"prompt {prompt.id}"))


@prompts.command("list")
@click.option("--tune", "--tune-id", "tune_id", type=int, help="Only this tune's prompts.")
@click.option("--text", help="Only prompts whose text contains this.")
@click.option("--pack-id", type=int, help="Only the template prompts of this pack.")
@click.option("--base-pack-id", type=int, help="Only prompts generated from this pack.")
@click.option("--user-id", type=int, help="Only this user's prompts.")
@click.option("--orig-prompt-id", type=int, help="Only clones of this prompt.")
@click.option("--order-id", type=int, help="Only the prompts of this order.")
@click.option("--liked", is_flag=True, default=None, help="Only liked prompts.")
@click.option("--today", is_flag=True, default=None, help="Only today's prompts.")
@click.option("--is-video", is_flag=True, default=None, help="Only video prompts.")
@click.option("--is-api", is_flag=True, default=None, help="Only prompts created by the API.")
@click.option("--expand", multiple=True, type=click.Choice(["debug_images"]),
              help="Add fields (debug_images).")
@click.option("--offset", type=click.IntRange(0), help="Skip this many first.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@json_option
@click.pass_context
def list_prompts(ctx: click.Context, /, tune_id: int | None, limit: int, offset: int | None,
                 expand: tuple[str, ...], **filters: Any) -> None:
    """List prompts newest first (yours, or one tune's), with the API's filters."""
    st = state(ctx)
    filters = {k: v for k, v in filters.items() if v not in (None, False)}  # flags: only on

    async def go(client: AstriaClient) -> list[Prompt]:
        found: list[Prompt] = []
        async for p in client.prompts.list(tune_id=tune_id, limit=min(limit, 120),
                                           offset=offset, expand=expand, **filters):
            found.append(p)
            if len(found) >= limit:
                break
        return found

    show_prompts(st.out, st.run(go))


@prompts.command("delete")
@click.argument("prompt_ids", type=int, nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def delete_prompts(ctx: click.Context, prompt_ids: tuple[int, ...], yes: bool) -> None:
    """Delete prompts and their images."""
    st = state(ctx)
    if not yes:
        click.confirm(f"Delete {len(prompt_ids)} prompt(s)?", abort=True, err=True)

    async def go(client: AstriaClient) -> None:
        for prompt_id in prompt_ids:
            await client.prompts.delete(prompt_id)
            st.out.log(f"deleted prompt {prompt_id}")

    st.run(go)
    st.out.result({"deleted": list(prompt_ids)}, text=f"deleted {len(prompt_ids)} prompt(s)")


@prompts.command("wait")
@click.argument("prompt_ids", type=int, nargs=-1)
@click.option("--prompts-file", type=click.File("r"), metavar="FILE",
              help="Read ids from FILE ('-': stdin): numbers, or the JSON `--json` prints.")
@click.option("--timeout", type=float, help="Seconds to wait for all of them.")
@click.option("--download", type=click.Path(file_okay=False, path_type=Path),
              help="Download the images into this folder.")
@json_option
@click.pass_context
def wait_cmd(ctx: click.Context, prompt_ids: tuple[int, ...], prompts_file: TextIO | None,
             timeout: float | None, download: Path | None) -> None:
    """Wait until prompts finish (one shared poll for all); exit 1 if any failed.

    Ids come from the arguments, --prompts-file, or stdin when it is not a terminal.
    """
    st = state(ctx)
    ids = gather_ids(prompt_ids, prompts_file)

    async def go(client: AstriaClient) -> list[Prompt]:
        done = await wait_prompts(client, st.out, ids, timeout)
        if download is not None:
            await download_prompts(client, st.out, done, download)
        return done

    done = st.run(go)
    show_prompts(st.out, done, urls=True)
    if any(p.is_failed for p in done):
        ctx.exit(1)
