"""`astria packs list|get|run`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import click

from . import _root
from ._output import jsonable, when
from ._progress import Progress
from ._root import ID, confirm_paid, json_option, key_values, state
from ._uploads import reading, split_images
from ._waits import wait_prompts

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..answers import PackRun


@click.group(short_help="List, inspect and run packs (templates).")
def packs() -> None:
    """Packs (templates): ready-made prompt sets with their training config."""


@packs.command("list")
@click.option("--gallery", is_flag=True, help="Public packs instead of yours.")
@click.option("--limit", type=click.IntRange(1))
@json_option
@click.pass_context
def list_packs(ctx: click.Context, gallery: bool, limit: int | None) -> None:
    """List packs."""
    st = state(ctx)
    found = st.run(lambda c: c.packs.list(gallery=gallery, limit=limit))
    rows = ((p.id, p.slug, p.title, p.model_type, p.base_tune_id, when(p.created_at))
            for p in found)
    st.out.result([jsonable(p) for p in found],
                  table=st.out.table(("id", "slug", "title", "model", "base tune", "created"),
                                     rows))


@packs.command("get")
@click.argument("pack")
@json_option
@click.pass_context
def get_pack(ctx: click.Context, pack: str) -> None:
    """Show a pack by id or slug, with its costs per class."""
    st = state(ctx)
    found = st.run(lambda c: c.packs.get(int(pack) if pack.isdigit() else pack))
    data = jsonable(found)
    st.out.result(data, table=st.out.fields(data, title=f"pack {found.slug or found.id}"))


@packs.command("run")
@click.argument("pack")
@click.argument("images", nargs=-1)
@click.option("--name", required=True, help="Class noun supported by the pack (man, woman...).")
@click.option("--title", help="Job title [default: a new UUID]; the idempotency key only when "
                               "idempotency is on in your Astria API settings.")
@click.option("--tune-id", "tune_ids", type=ID, multiple=True,
              help="Run on this existing tune instead of training (repeatable).")
@click.option("--prompt-id", "prompt_ids", type=ID, multiple=True,
              help="Only this template prompt (repeatable).")
@click.option("-n", "--num-images", type=int, help="Images per prompt (override).")
@click.option("--callback", metavar="URL", help="Per-prompt callback.")
@click.option("--brief", help="Art direction applied to the pack's prompts.")
@click.option("--characteristic", "characteristics", multiple=True, metavar="KEY=VALUE")
@click.option("--wait", is_flag=True, help="Wait for training and for the returned prompts.")
@click.option("--timeout", type=float, help="Seconds --wait may take.")
@click.option("-y", "--yes", is_flag=True,
              help="Do not ask before the paid run (only asked on a terminal).")
@json_option
@click.pass_context
def run_pack(ctx: click.Context, pack: str, images: tuple[str, ...], name: str,
             title: str | None, tune_ids: tuple[int, ...], prompt_ids: tuple[int, ...],
             num_images: int | None, callback: str | None, brief: str | None,
             characteristics: tuple[str, ...], wait: bool, timeout: float | None,
             yes: bool) -> None:
    """Run a pack: train a tune from IMAGES (or use --tune-id) and create its prompts (paid:
    on a terminal, the pack's price for the class is shown and confirmed first)."""
    from ..params import PromptParams

    st = state(ctx)
    paths, urls = split_images(images) if images else ([], [])
    if not images and not tune_ids:
        raise click.UsageError("give training IMAGES or --tune-id of an existing tune")
    overrides = PromptParams(num_images=num_images, callback=callback)
    chars = dict(key_values(characteristics, "--characteristic")) or None

    async def go(client: AstriaClient) -> tuple[PackRun, Any]:
        price = None
        if not yes and _root.stdin_is_terminal():  # the price costs a request: when asked
            found = await client.packs.get(int(pack) if pack.isdigit() else pack)
            cost = (found.cost_mc_hash or {}).get(name)
            if isinstance(cost, int) and not isinstance(cost, bool):
                price = (f"a paid run of pack {found.slug or found.id} for {name!r}: "
                         f"${cost / 100_000:.2f} (the pack's price)")
        confirm_paid(st.out, yes, price or f"a paid run of pack {pack}")
        with Progress(st.out, transfer=True) as progress, reading(paths, progress) as files:
            run = await client.packs.create_tune(
                int(pack) if pack.isdigit() else pack, title=title or f"astria-cli-{uuid.uuid4()}",
                name=name, images=files, image_urls=urls, tune_ids=tune_ids,
                prompt_ids=prompt_ids, brief=brief, characteristics=chars,
                prompt_attributes=overrides)
        st.out.log(f"pack run: {run.kind}" + (f" tune {run.tune.id}" if run.tune else ""))
        waited: Any = None
        if wait and run.tune is not None and not run.tune.is_trained:
            waited = jsonable(await client.tunes.wait_trained(run.tune, timeout=timeout))
        if wait and run.prompt_ids:
            done = await wait_prompts(client, st.out, list(run.prompt_ids), timeout)
            waited = [jsonable(p) for p in done]
        return run, waited

    run, waited = st.run(go)
    data = {"kind": run.kind, "raw": dict(run.raw), "waited": waited}
    st.out.result(data, table=st.out.fields({"kind": run.kind, **dict(run.raw)}))
