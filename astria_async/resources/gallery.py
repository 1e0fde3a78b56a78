"""`client.gallery`: Astria's public feed of community prompts (API notes §5.3)."""

from __future__ import annotations

from typing import Any

from .._config import MAX_PROMPT_OFFSET
from .._convert import structure
from ..models import Prompt
from ._base import Paginator, Resource, as_list, check_page, query


class Gallery(Resource):
    """Public prompts (`GET /gallery.json`); public tunes and packs are
    `client.tunes.list(gallery=True)` and `client.packs.list(gallery=True)`."""

    def list(self, *, before_id: int | None = None, limit: int | None = None,
             offset: int | None = None) -> Paginator[Prompt]:
        """Community prompts newest first; `await` for a page, `async for` to walk them."""
        check_page(limit, offset, MAX_PROMPT_OFFSET)
        params = {"before_id": before_id, "limit": limit, "offset": offset}

        async def fetch(page: dict[str, Any]) -> list[Prompt]:
            reply = await self._transport.request("GET", "/gallery.json",
                                                  params=query(**page))
            return [structure(item, Prompt, self._binding)
                    for item in as_list(reply.data, "prompt")]

        return Paginator(fetch, params, id_of=lambda p: p.id)
