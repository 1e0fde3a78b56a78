"""`client.users` and `client.workspaces`: the account and its workspaces (API notes §10).

These are account-wide: `/users` and `/workspaces.json` go without `X-Workspace-Id`, as
Astria's CLI sends them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._convert import structure_plain
from .._forms import Body
from ._base import Resource, as_list, first_object, ident

if TYPE_CHECKING:  # `answers` loads on the first call that needs it (start-up)
    from ..answers import User, Workspace


class Users(Resource):
    """The account behind the API key."""

    async def me(self) -> User:
        """`GET /users`: id, name, email and the balance (`usd_balance_mc`, milli-cents)."""
        from ..answers import User

        reply = await self._transport.request("GET", "/users", workspace=False)
        return structure_plain(reply.data, User, "user")


class Workspaces(Resource):
    """Workspaces scope tunes, prompts and billing (`X-Workspace-Id`, API notes §1.3)."""

    async def list(self) -> list[Workspace]:
        """`GET /workspaces.json`: the workspaces you belong to."""
        reply = await self._transport.request("GET", "/workspaces.json", workspace=False)
        return [_workspace(item) for item in as_list(reply.data, "workspace")]

    async def create(self, *, title: str, brief: str | None = None,
                     landing_page_html: str | None = None) -> Workspace:
        """`POST /workspaces.json` with a title (and optionally a brief and landing page).

        Raises:
            InvalidParamsError: the title is blank; nothing was sent.
        """
        from ..params import WorkspaceParams

        payload = WorkspaceParams(title=title, brief=brief,
                                  landing_page_html=landing_page_html).to_payload(create=True)
        reply = await self._transport.request("POST", "/workspaces.json", workspace=False,
                                              body=Body("workspace", payload))
        return self._one(reply.data)

    async def get(self, workspace_id: int | Workspace) -> Workspace:
        """`GET /workspaces/:id.json`, landing page (`landing_page_html`) and brief included."""
        path = f"/workspaces/{ident(workspace_id, 'workspace_id')}.json"
        return self._one((await self._transport.request("GET", path)).data)

    async def update(self, workspace_id: int | Workspace, *, title: str | None = None,
                     brief: str | None = None,
                     landing_page_html: str | None = None) -> Workspace:
        """`PATCH /workspaces/:id.json`: rename, set the brief or the landing page HTML.

        Raises:
            InvalidParamsError: nothing to change, or a field is not a string; nothing was sent.
        """
        path = f"/workspaces/{ident(workspace_id, 'workspace_id')}.json"
        from ..params import WorkspaceParams

        payload = WorkspaceParams(title=title, brief=brief,
                                  landing_page_html=landing_page_html).to_payload()
        reply = await self._transport.request("PATCH", path, body=Body("workspace", payload))
        return self._one(reply.data)

    @staticmethod
    def _one(data: Any) -> Workspace:
        return _workspace(first_object(data, "workspace"))


def _workspace(data: Any) -> Workspace:
    from ..answers import Workspace

    return structure_plain(data, Workspace, "workspace")
