"""`astria whoami`, `astria models`, `astria workspaces list|create`, `astria landing get|set`
(the account-wide commands of Astria's CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._output import jsonable, when
from ._root import json_option, state

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..answers import ModelCatalog, Workspace


@click.command(short_help="Show the account behind the API key.")
@json_option
@click.pass_context
def whoami(ctx: click.Context) -> None:
    """The account behind the key: id, name, email and balance (GET /users)."""
    st = state(ctx)
    user = st.run(lambda c: c.users.me())
    data = jsonable(user)
    if user.balance_usd is not None:
        data["balance_usd"] = round(user.balance_usd, 2)
    st.out.result(data, table=st.out.fields(data, title=f"user {user.id}"))


@click.command(short_help="List the named models (gemini, seedream...) and video models.")
@click.option("--refresh", is_flag=True, help="Read the catalogue again (it is cached).")
@json_option
@click.pass_context
def models(ctx: click.Context, refresh: bool) -> None:
    """The model catalogue (GET /cli/models): the names `--model` takes and their tune ids."""
    st = state(ctx)

    async def go(client: AstriaClient) -> ModelCatalog:
        return await client.models(refresh=refresh, offline_ok=True)

    catalog = st.run(go)
    if catalog.source == "builtin":
        st.out.log("the catalogue could not be read: built-in ids (offline)")
    data: dict[str, Any] = {
        "source": catalog.source, "default": catalog.default,
        "default_video_model": catalog.default_video_model,
        "models": {n: {"tune_id": m.tune_id, "resolutions": list(m.resolutions)}
                   for n, m in catalog.models.items()},
        "video_models": dict(catalog.video_models)}
    rows: list[tuple[Any, ...]] = [
        (n, m.tune_id, ", ".join(m.resolutions), "yes" if n == catalog.default else "")
        for n, m in catalog.models.items()]
    rows += [(n, "video", "", "yes" if n == catalog.default_video_model else "")
             for n in catalog.video_models]
    st.out.result(data, table=st.out.table(("name", "tune id", "resolutions", "default"), rows))


def _workspace_rows(found: list[Workspace]) -> list[tuple[Any, ...]]:
    return [(w.id, w.title, w.slug, when(w.created_at)) for w in found]


@click.group(short_help="List and create workspaces.")
def workspaces() -> None:
    """Workspaces scope tunes, prompts and billing; pick one with -w ID."""


@workspaces.command("list")
@json_option
@click.pass_context
def list_workspaces(ctx: click.Context) -> None:
    """List your workspaces."""
    st = state(ctx)
    found = st.run(lambda c: c.workspaces.list())
    st.out.result([jsonable(w) for w in found],
                  table=st.out.table(("id", "title", "slug", "created"),
                                     _workspace_rows(found)))


@workspaces.command("create")
@click.option("--title", required=True, help="The workspace's name.")
@json_option
@click.pass_context
def create_workspace(ctx: click.Context, title: str) -> None:
    """Create a workspace."""
    st = state(ctx)
    made = st.run(lambda c: c.workspaces.create(title=title))
    st.out.result(jsonable(made), text=f"created workspace {made.id} ({made.title})")


def _workspace_id(ctx: click.Context) -> int:
    chosen = (state(ctx).workspace or "").strip()
    if not chosen.isdigit():
        raise click.UsageError("the landing page belongs to a workspace: pass -w ID (or set "
                               "WORKSPACE_ID); see `astria workspaces list`")
    return int(chosen)


@click.group(short_help="Show or set a workspace's landing page.")
def landing() -> None:
    """The landing page of the workspace given with -w ID: HTML and brief."""


@landing.command("get")
@click.option("--html", "html_only", is_flag=True, help="Print only the page's HTML.")
@json_option
@click.pass_context
def get_landing(ctx: click.Context, html_only: bool) -> None:
    """Show the workspace's landing page HTML and brief."""
    st = state(ctx)
    workspace_id = _workspace_id(ctx)
    found = st.run(lambda c: c.workspaces.get(workspace_id))
    if html_only and not st.out.json:
        click.echo(found.landing_page_html or "")
        return
    data = {"id": found.id, "title": found.title, "brief": found.brief,
            "landing_page_html": found.landing_page_html}
    st.out.result(data, table=st.out.fields(data, title=f"workspace {found.id}"))


@landing.command("set")
@click.option("--html-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A file with the page's HTML.")
@click.option("--brief", help="The art-direction brief.")
@json_option
@click.pass_context
def set_landing(ctx: click.Context, html_file: Path | None, brief: str | None) -> None:
    """Set the workspace's landing page HTML and/or brief."""
    st = state(ctx)
    if html_file is None and brief is None:
        raise click.UsageError("give --html-file FILE and/or --brief TEXT")
    workspace_id = _workspace_id(ctx)
    html = html_file.read_text(encoding="utf-8") if html_file is not None else None
    found = st.run(lambda c: c.workspaces.update(workspace_id, landing_page_html=html,
                                                 brief=brief))
    st.out.result(jsonable(found), text=f"updated the landing page of workspace {found.id}")
