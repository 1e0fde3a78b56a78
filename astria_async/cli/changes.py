"""`astria prompts update` and `astria packs create`: assigning prompts to packs, new packs."""

from __future__ import annotations

import click

from ._output import jsonable
from ._root import json_option, state
from ._targets import TUNE_REF


@click.command("update")
@click.argument("prompt_id", type=int)
@click.option("--tune", "tune_id", type=int,
              help="The tune the prompt was posted to (PATCH the nested route).")
@click.option("--pack-id", type=int, help="Make it a template prompt of this pack.")
@click.option("--base-pack-id", type=int, help="Record the pack it was generated from.")
@click.option("--workspace-id", type=int, help="Move it to this workspace.")
@click.option("--orig-prompt-id", type=int, help="Record the prompt it was cloned from.")
@json_option
@click.pass_context
def update_prompt(ctx: click.Context, prompt_id: int, tune_id: int | None, pack_id: int | None,
                  base_pack_id: int | None, workspace_id: int | None,
                  orig_prompt_id: int | None) -> None:
    """Assign a prompt to a pack or move it to a workspace."""
    st = state(ctx)
    found = st.run(lambda c: c.prompts.update(
        prompt_id, tune_id=tune_id, pack_id=pack_id, base_pack_id=base_pack_id,
        workspace_id=workspace_id, orig_prompt_id=orig_prompt_id))
    data = jsonable(found)
    st.out.result(data, table=st.out.fields(data, title=f"prompt {found.id}"))


@click.command("create")
@click.option("--title", required=True, help="The pack's title.")
@click.option("--subtitle", help="A one-line description.")
@click.option("--model", "base_tune_id", default="gemini", show_default=True, **TUNE_REF,
              help="Base model (name or tune id) of the pack.")
@click.option("--model-type", type=click.Choice(["lora", "pti", "faceid"]),
              help="What the pack trains [default: faceid references].")
@json_option
@click.pass_context
def create_pack(ctx: click.Context, title: str, subtitle: str | None, base_tune_id: int | str,
                model_type: str | None) -> None:
    """Create an empty pack; add template prompts with `astria prompts update ID --pack-id`."""
    st = state(ctx)
    made = st.run(lambda c: c.packs.create(title=title, subtitle=subtitle,
                                           base_tune_id=base_tune_id,
                                           model_type=model_type or "faceid"))
    st.out.result(jsonable(made), text=f"created pack {made.id} ({made.slug or made.title})")
