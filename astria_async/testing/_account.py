"""The account: ``/users``, workspaces with landing pages, the model catalogue (API notes §10)."""

from __future__ import annotations

import re
from typing import Any

from ._catalog import catalogue
from ._render import iso
from ._store import Store
from ._wire import Ctx, HttpError, Reply, unprocessable

WORKSPACE_FIELDS = ("title", "brief", "landing_page_html")


def get_user(ctx: Ctx) -> Reply:
    """GET /users: the account behind the key (API notes §10.1); the balance follows spending."""
    store = ctx.store
    return Reply(200, {
        "id": store.config.user_id, "name": "Fake Astria User", "email": "fake@example.com",
        "usd_balance_mc": store.balance_mc, "auto_extend_tunes": False, "top_off_amount": None,
        "purchased_plugin_at": None,
    })


def cli_models(ctx: Ctx) -> Reply:
    """GET /cli/models: the unauthenticated catalogue Astria's CLI reads (API notes §10.6)."""
    return Reply(200, catalogue())


def add_workspace(store: Store, now: float, title: str,
                  workspace_id: int | None = None) -> dict[str, Any]:
    """Create a workspace; ids are integers, as ``prompt[workspace_id]`` is (API notes §1.3)."""
    new_id = workspace_id if workspace_id is not None else store.next_id("workspace")
    if str(new_id) in store.workspaces:
        raise ValueError(f"workspace {new_id} exists")
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or str(new_id)
    store.workspaces[str(new_id)] = {
        "id": new_id, "title": title, "slug": slug, "brief": None, "landing_page_html": None,
        "user_id": store.config.user_id, "created_at": iso(now), "updated_at": iso(now),
    }
    return store.workspaces[str(new_id)]


def workspace_missing() -> HttpError:
    """The answer to an ``X-Workspace-Id`` or id that names no workspace of the user's."""
    return HttpError(404, {"error": "Workspace not found"})


def _workspace(ctx: Ctx) -> dict[str, Any]:
    found = ctx.store.workspaces.get(ctx.params[0])
    if found is None:
        raise workspace_missing()
    return found


def _title(attrs: dict[str, Any]) -> str:
    title = attrs.get("title")
    if not isinstance(title, str) or not title.strip():
        raise unprocessable("Title can't be blank")
    return title.strip()


def list_workspaces(ctx: Ctx) -> Reply:
    """GET /workspaces.json: the user's workspaces, oldest first."""
    return Reply(200, list(ctx.store.workspaces.values()))


def post_workspace(ctx: Ctx) -> Reply:
    """POST /workspaces.json ``{"workspace": {"title"}}`` → 201 with the workspace."""
    return Reply(201, add_workspace(ctx.store, ctx.now, _title(ctx.root("workspace"))))


def get_workspace(ctx: Ctx) -> Reply:
    """GET /workspaces/:id(.json): includes ``landing_page_html`` and ``brief``."""
    return Reply(200, _workspace(ctx))


def patch_workspace(ctx: Ctx) -> Reply:
    """PATCH /workspaces/:id(.json): title, brief, landing_page_html (the CLI's ``landing set``)."""
    found = _workspace(ctx)
    changes = ctx.root("workspace")
    if "title" in changes:
        changes = {**changes, "title": _title(changes)}
    for key in ("brief", "landing_page_html"):
        if key in changes and changes[key] is not None and not isinstance(changes[key], str):
            raise unprocessable(f"{key} must be a string")
    for key in WORKSPACE_FIELDS:
        if key in changes:
            found[key] = changes[key]
    found["updated_at"] = iso(ctx.now)
    return Reply(200, found)
