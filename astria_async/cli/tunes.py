"""`astria tunes list|get|create|update|delete`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from ._output import jsonable, when
from ._progress import Progress
from ._root import ID, confirm_paid, json_option, key_values, state
from ._targets import TUNE_REF
from ._uploads import reading, split_images

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..models import Tune
    from ._output import Output

COLUMNS = ("id", "title", "name", "branch", "model", "trained", "created")


def tune_row(t: Tune) -> tuple[Any, ...]:
    """A tune as a table row."""
    trained = when(t.trained_at) if t.trained_at else f"eta {when(t.eta)}" if t.eta else "no"
    return (t.id, t.title, t.name, t.branch, t.model_type, trained, when(t.created_at))


def show_tune(out: Output, tune: Tune) -> None:
    """One tune: JSON, or a field table."""
    out.result(jsonable(tune), table=out.fields(jsonable(tune), title=f"tune {tune.id}"))


async def wait_trained(client: AstriaClient, out: Output, tunes: Sequence[Tune],
                       timeout: float | None) -> list[Tune]:
    """Wait for tunes to train, with a "trained" counter."""
    import asyncio

    with Progress(out) as progress:
        task = progress.task("trained", len(tunes))

        async def one(tune: Tune) -> Tune:
            done = await client.tunes.wait_trained(tune, timeout=timeout)
            task.advance(note=f"tune {done.id} trained")
            return done

        return list(await asyncio.gather(*(one(t) for t in tunes)))


@click.group(short_help="List, create, update and delete tunes.")
def tunes() -> None:
    """Fine-tunes: list, inspect, create from photos, rename, delete."""


@tunes.command("list")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True,
              help="How many tunes, newest first.")
@click.option("--title", help="Only titles containing this text.")
@click.option("--name", "names", multiple=True, help="Only this class (man, woman...; "
              "repeatable).")
@click.option("--branch", help="Only this branch (flux1, sd15, sdxl1, fast...).")
@click.option("--model-type", help="Only this model type (lora, pti, faceid).")
@click.option("--offset", type=click.IntRange(0), help="Skip this many first.")
@click.option("--gallery", is_flag=True, help="Public gallery models instead of yours.")
@json_option
@click.pass_context
def list_tunes(ctx: click.Context, limit: int, title: str | None, names: tuple[str, ...],
               branch: str | None, model_type: str | None, offset: int | None,
               gallery: bool) -> None:
    """List your tunes, newest first."""
    st = state(ctx)

    async def go(client: AstriaClient) -> list[Tune]:
        found: list[Tune] = []
        page = min(limit, 200 if gallery else 120)
        async for tune in client.tunes.list(title=title, name=list(names) or None,
                                            branch=branch, model_type=model_type,
                                            offset=offset, gallery=gallery, limit=page):
            found.append(tune)
            if len(found) >= limit:
                break
        return found

    found = st.run(go)
    st.out.result([jsonable(t) for t in found],
                  table=st.out.table(COLUMNS, (tune_row(t) for t in found)))


@tunes.command("get")
@click.argument("tune_id", type=ID)
@json_option
@click.pass_context
def get_tune(ctx: click.Context, tune_id: int) -> None:
    """Show one tune."""
    st = state(ctx)
    show_tune(st.out, st.run(lambda c: c.tunes.get(tune_id)))


@tunes.command("create")
@click.argument("images", nargs=-1, required=True)
@click.option("--name", required=True, help="Class noun: man, woman, dog, ring, style...")
@click.option("--title", help="Job title [default: a new UUID]. Only when idempotency is on in "
                               "your Astria API settings is it also the idempotency key: a "
                               "second create with the same title returns the first tune.")
@click.option("--fast", is_flag=True, help="branch=fast: a free mock tune for testing.")
@click.option("-y", "--yes", is_flag=True,
              help="Do not ask before creating a paid tune (only asked on a terminal).")
@click.option("--branch", type=click.Choice(["flux1", "sd15", "sdxl1", "fast"]))
@click.option("--base-tune-id", "--model", "base_tune_id", **TUNE_REF,
              help="Gallery model to train on or to reference: a tune id (e.g. 1504944) or a "
                   "model name (gemini, seedream...).")
@click.option("--model-type", type=click.Choice(["lora", "pti", "faceid"]))
@click.option("--preset", type=click.Choice(["flux-lora-focus", "flux-lora-portrait",
                                             "flux-lora-fast"]))
@click.option("--token", help="Trigger token [Astria's default: ohwx, sks on SD1.5].")
@click.option("--steps", type=click.IntRange(1))
@click.option("--callback", metavar="URL", help="Called by Astria when training finishes.")
@click.option("--face-crop/--no-face-crop", default=None)
@click.option("--characteristic", "characteristics", multiple=True, metavar="KEY=VALUE",
              help="For {{key}} in prompt texts; repeatable.")
@click.option("--description", help="A short description (characteristic short_description, "
                                    "as Astria's CLI sends it).")
@click.option("--wait", is_flag=True, help="Wait until the tune is trained.")
@click.option("--timeout", type=float, help="Seconds --wait may take.")
@json_option
@click.pass_context
def create_tune(ctx: click.Context, /, images: tuple[str, ...], fast: bool, branch: str | None,
                characteristics: tuple[str, ...], description: str | None, wait: bool,
                timeout: float | None, title: str | None, yes: bool, **options: Any) -> None:
    """Create a tune from image files, folders or URLs (paid unless --fast: on a terminal, the
    price is shown and confirmed first; -y skips the question)."""
    st = state(ctx)
    if fast and branch not in (None, "fast"):
        raise click.UsageError("--fast is branch=fast; do not combine it with --branch")
    paths, urls = split_images(images)
    if not fast and branch != "fast":
        confirm_paid(st.out, yes)
    given = dict(key_values(characteristics, "--characteristic"))
    if description is not None:
        given["short_description"] = description
    chars = given or None
    title = title or f"astria-cli-{uuid.uuid4()}"

    async def go(client: AstriaClient) -> Tune:
        with Progress(st.out, transfer=True) as progress, reading(paths, progress) as files:
            tune = await client.tunes.create(
                title=title, images=files, image_urls=urls, branch="fast" if fast else branch,
                characteristics=chars, **options)
        st.out.log(f"created tune {tune.id} ({tune.title})")
        if wait and not tune.is_trained:
            [tune] = await wait_trained(client, st.out, [tune], timeout)
        return tune

    show_tune(st.out, st.run(go))


@tunes.command("update")
@click.argument("tune_id", type=ID)
@click.option("--title")
@click.option("--name")
@click.option("--auto-extend/--no-auto-extend", default=None,
              help="Keep the tune beyond 30 days (paid).")
@click.option("--characteristic", "characteristics", multiple=True, metavar="KEY=VALUE")
@json_option
@click.pass_context
def update_tune(ctx: click.Context, tune_id: int, title: str | None, name: str | None,
                auto_extend: bool | None, characteristics: tuple[str, ...]) -> None:
    """Change a tune's title, class name, auto-extend or characteristics."""
    st = state(ctx)
    chars = dict(key_values(characteristics, "--characteristic")) or None
    tune = st.run(lambda c: c.tunes.update(tune_id, title=title, name=name,
                                           auto_extend=auto_extend, characteristics=chars))
    show_tune(st.out, tune)


@tunes.command("delete")
@click.argument("tune_ids", type=ID, nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def delete_tunes(ctx: click.Context, tune_ids: tuple[int, ...], yes: bool) -> None:
    """Delete tunes with their training and generated images (irreversible)."""
    st = state(ctx)
    if not yes:
        click.confirm(f"Delete {len(tune_ids)} tune(s) and all their images?", abort=True,
                      err=True)

    async def go(client: AstriaClient) -> None:
        for tune_id in tune_ids:
            await client.tunes.delete(tune_id)
            st.out.log(f"deleted tune {tune_id}")

    st.run(go)
    st.out.result({"deleted": list(tune_ids)}, text=f"deleted {len(tune_ids)} tune(s)")
