"""`astria prompts create|get|list|delete|wait` and `astria gen`."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from ..errors import AstriaError
from ._output import jsonable, when
from ._root import ID, cli_terms, error_object, json_option, json_value, key_values, one_line, state
from ._targets import TUNE_REF, add_references, gather_ids, media, parse_references
from ._waits import download_prompts, wait_each, wait_prompts

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..models import Prompt, Tune
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


def show_prompts(out: Output, prompts: list[Prompt], *, urls: bool = False,
                 one: bool = False) -> None:
    """Prompts as a JSON list (one object when the command makes `one`), or a table (with
    image URLs when asked)."""
    table = out.table(COLUMNS, (prompt_row(p) for p in prompts))
    data = [jsonable(p) for p in prompts]
    out.result(data[0] if one and len(data) == 1 else data, table=table)
    if urls:
        show_urls(out, prompts)


def show_urls(out: Output, prompts: list[Prompt]) -> None:
    """The image URLs under the table, and why failed prompts failed (not with --json)."""
    if out.json:
        return
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
                     help="Any other prompt parameter this library knows, checked before "
                          "sending, e.g. -p style=Cinematic -p face_correct=true (values "
                          "parsed as JSON when they can be); an unknown KEY is refused."),
        click.option("--extra", "extras", multiple=True, metavar="KEY=VALUE",
                     help="An API parameter sent as given, unchecked (for parameters newer "
                          "than this library)."),
        click.option("--timeout", type=float, help="Seconds a wait may take."),
        json_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _create_kwargs(params: tuple[str, ...], input_image: str | None,
                   options: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in options.items() if v is not None and k != "mask_image"}
    extras = kwargs.pop("extras", ())
    kwargs.update(media("input_image", input_image))
    kwargs.update(media("mask_image", options.get("mask_image")))
    import attrs

    from ..params import PromptParams

    fields = sorted(f for f in attrs.fields_dict(PromptParams) if f != "extra")
    known = {k: json_value(v) for k, v in key_values(params, "--param")}
    for key in known:
        if key not in fields:
            # Like an unknown key in a batch line: a typo would be sent, ignored and billed.
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean -p {close[0]}=…? " if close else ""
            raise click.BadParameter(
                f"{key!r} is not a prompt parameter; {hint}send an API parameter this "
                f"library does not know with --extra {key}=VALUE", param_hint="--param")
        if key in kwargs:
            raise click.UsageError(f"{key} is given twice (as an option and with --param)")
    extra = {k: json_value(v) for k, v in key_values(extras, "--extra")}
    return {**kwargs, "params": PromptParams(**known), "extra": extra or None}


async def lookup_tune(client: AstriaClient, tune_id: int) -> Tune | int:
    """The tune, or its bare id when it cannot be read (a shared gallery model may not be)."""
    from ..errors import NotFoundError, PermissionDeniedError

    try:
        return await client.tunes.get(tune_id)
    except (NotFoundError, PermissionDeniedError):
        return tune_id


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
        # Looked up so that a LoRA/FaceID tune runs on its base model (API notes §5.1); a
        # model name ("gemini") is a base model already.
        target = tune_id if isinstance(tune_id, str) else await lookup_tune(client, tune_id)
        prompt = await client.prompts.create(target, text=text, **kwargs)
        where = (f"on base model {prompt.tune_id} for {target.model_type} tune {tune_id}"
                 if not isinstance(target, (int, str)) and prompt.tune_id != tune_id
                 else f"on tune {tune_id}")
        st.out.log(f"created prompt {prompt.id} {where}")
        if not (wait or download):
            return [prompt]
        done = await wait_prompts(client, st.out, [prompt.id], timeout)
        if download is not None:
            await download_prompts(client, st.out, done, download)
        return done

    done = st.run(go)
    show_prompts(st.out, done, urls=wait or download is not None, one=True)
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
    """Create a prompt on a tune (paid unless the tune is --fast); a LoRA or FaceID tune runs
    on its base model, as with gen."""
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
    """Generate: create a prompt, wait for its images, optionally download them.

    The tune is looked up first: a LoRA or FaceID tune runs on its base model with
    <lora:ID:1> / <faceid:ID:1> put before TEXT, as Astria requires."""
    if no_wait and download is not None:
        raise click.UsageError("--download needs the images: drop --no-wait")
    create_and_wait(ctx, tune_id, text, not no_wait, download, timeout, params, input_image,
                    options)


@prompts.command("get")
@click.argument("prompt_id", type=ID)
@click.option("--tune", "tune_id", type=ID,
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
@click.option("--tune", "--tune-id", "tune_id", type=ID, help="Only this tune's prompts.")
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
@click.argument("prompt_ids", type=ID, nargs=-1, required=True)
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
@click.argument("prompt_ids", type=ID, nargs=-1)
@click.option("--prompts-file", type=click.File("r"), metavar="FILE",
              help="Read ids from FILE ('-': stdin): numbers, or the JSON `--json` prints.")
@click.option("--timeout", type=float, help="Seconds to wait for all of them.")
@click.option("--download", type=click.Path(file_okay=False, path_type=Path),
              help="Download the images into this folder.")
@json_option
@click.pass_context
def wait_cmd(ctx: click.Context, prompt_ids: tuple[int, ...], prompts_file: TextIO | None,
             timeout: float | None, download: Path | None) -> None:
    """Wait until prompts finish (one shared poll for all) and report each: its images, its
    failure, or why it could not be waited for (not found, timed out); exit 1 unless all
    succeeded.

    Ids come from the arguments, --prompts-file, or stdin when it is not a terminal.
    """
    st = state(ctx)
    ids = gather_ids(prompt_ids, prompts_file)

    async def go(client: AstriaClient) -> list[Prompt | AstriaError]:
        ended = await wait_each(client, st.out, ids, timeout)
        if download is not None:
            done = [p for p in ended if not isinstance(p, AstriaError)]
            await download_prompts(client, st.out, done, download)
        return ended

    ended = st.run(go)
    prompts_ = [p for p in ended if not isinstance(p, AstriaError)]
    errors = [e for e in ended if isinstance(e, AstriaError)]
    rows = [prompt_row(p) if not isinstance(p, AstriaError) else error_row(p) for p in ended]
    data = [jsonable(p) if not isinstance(p, AstriaError) else error_json(p) for p in ended]
    st.out.result(data, table=st.out.table(COLUMNS, rows))
    show_urls(st.out, prompts_)
    for error in errors:
        st.out.log(one_line(error))
    if errors or any(p.is_failed for p in prompts_):
        ctx.exit(1)


def _error_id(error: AstriaError) -> int | None:
    oid = getattr(error, "object_id", None)
    if oid is None:  # an API error: the id is the last segment of its path
        tail = getattr(error, "path", "").rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")
        oid = int(tail) if tail.isdigit() else None
    return oid if isinstance(oid, int) else None


def error_row(error: AstriaError) -> tuple[Any, ...]:
    """A prompt that could not be waited for, as a table row."""
    state_ = {"NotFoundError": "not found", "WaitTimeoutError": "timed out"}.get(
        type(error).__name__, "error")
    return (_error_id(error), "-", "-", 0, state_, "-")


def error_json(error: AstriaError) -> dict[str, Any]:
    """`{"id": …, "error": {…}}` for a prompt that could not be waited for."""
    return {"id": _error_id(error), **error_object(error, cli_terms(str(error)))}
