"""`client.images.inspect`: what Astria sees in a picture (API notes §9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._convert import structure_plain
from .._forms import Body
from ._base import Resource, first_object

if TYPE_CHECKING:  # `answers` and `params` load on the first call that needs them (start-up)
    from ..answers import ImageInspection
    from ..params import FileInput

# Attribute values that mean "nothing seen" (API notes §9).
_ABSENT = ("", "NONE", "none")


class Images(Resource):
    """Image inspection, to check training images and fill a tune's characteristics."""

    async def inspect(self, file: FileInput | None = None, *, name: str,
                      file_url: str | None = None) -> ImageInspection:
        """`POST /images/inspect`: body type, age, hair, glasses... of the `name` in a picture.

        Args:
            file: the picture (a path, bytes or a binary file), sent as multipart.
            name: the class in the picture (`man`, `woman`, `dress`...).
            file_url: a hosted picture instead of `file`.

        Raises:
            InvalidParamsError: no name, or not exactly one of file and file_url.
        """
        from ..answers import ImageInspection
        from ..params import InspectParams

        payload = InspectParams(name=name, file=file, file_url=file_url).to_payload()
        reply = await self._transport.request("POST", "/images/inspect",
                                              body=Body(None, payload))
        data = first_object(reply.data, "inspection")
        # "NONE" and "" mean nothing was seen: None on the model, the answer kept in `raw`.
        cleaned = {k: None if isinstance(v, str) and v in _ABSENT else v
                   for k, v in data.items()}
        return attrs.evolve(structure_plain(cleaned, ImageInspection, "inspection"), raw=data)
