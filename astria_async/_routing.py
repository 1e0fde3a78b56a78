"""Where a prompt for a tune is posted: LoRA and FaceID tunes run on their base model.

Astria refuses a prompt posted to a Flux/SDXL LoRA or a FaceID tune itself (422 "model_type=lora
is not supported. Use a checkpoint instead"); such prompts go to the tune's `base_tune_id` with
`<lora:ID:1>` or `<faceid:ID:1>` in the text (API notes §5.1, §6). `route()` is that rule as a
pure function (the batch dry run uses it too); `TuneRoutes` remembers the tunes a client has seen,
so that a bare id routes as well once its tune passed through the client.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs

from ._config import ROUTE_DEFAULT_BASE, ROUTE_MEMORY
from ._fields_repr import fields_repr
from .models import Prompt, Tune, tune_refs

logger = logging.getLogger("astria_async")

# The model types whose prompts must be posted to a base model, and the token that names them.
ROUTED_TYPES = ("lora", "faceid")


@attrs.frozen
class Route:
    """Where a prompt goes: `tune_id` to post to and the `text` to send.

    `via` is the user's tune when the prompt was re-routed to its base model (None when it is
    sent as given); `token` is the reference put in the text (`<lora:ID:1>`), or None when the
    text already had one.
    """

    __repr__ = fields_repr

    tune_id: int
    text: str | None
    via: Tune | None = None
    token: str | None = None

    @property
    def routed(self) -> bool:
        """True when the prompt goes to the base model instead of the tune given."""
        return self.via is not None

    def describe(self) -> str:
        """One line for logs and dry runs."""
        if self.via is None:
            return f"posted to tune {self.tune_id}"
        added = f", {self.token} added to the text" if self.token else ""
        return (f"{self.via.model_type} tune {self.via.id} runs on its base model "
                f"{self.tune_id}{added}")

    def mark(self, prompt: Prompt) -> Prompt:
        """The returned prompt with the user's tune in its `tunes` list (if the answer lacks it)."""
        via = self.via
        if via is None or any(t.get("id") == via.id for t in prompt.tunes):
            return prompt
        entry: Mapping[str, Any] = {"id": via.id, "title": via.title, "name": via.name,
                                    "model_type": via.model_type, "branch": via.branch}
        return attrs.evolve(prompt, tunes=(*prompt.tunes, entry))


def route(tune: Tune | int, text: str | None) -> Route:
    """Where a prompt with `text` for `tune` must be posted (API notes §5.1).

    A LoRA or FaceID tune routes to its `base_tune_id` (or, without one, its branch's base:
    Flux1.dev for flux1, SDXL 1.0 for sdxl1), with `<lora:ID:1>` / `<faceid:ID:1>` put before
    the text unless the text already references the tune. A bare id, or any other tune, is
    posted as given.
    """
    if isinstance(tune, int):
        return Route(tune, text)
    base = base_model(tune)
    if not base:
        return Route(tune.id, text)
    if tune.id in tune_refs(text):
        return Route(base, text, tune)
    token = f"<{tune.model_type}:{tune.id}:1>"
    return Route(base, f"{token} {text}" if text else token, tune, token)


def base_model(tune: Tune) -> int | None:
    """The base model a LoRA/FaceID tune's prompts are posted to; None for any other tune."""
    if tune.model_type not in ROUTED_TYPES:
        return None
    return tune.base_tune_id or ROUTE_DEFAULT_BASE.get(tune.branch or "")


class TuneRoutes:
    """The LoRA/FaceID tunes a client has seen, so that their bare ids route too."""

    def __init__(self, size: int = ROUTE_MEMORY) -> None:
        self._size = size
        self._tunes: OrderedDict[int, Tune] = OrderedDict()

    def remember(self, tune: Tune) -> None:
        """Note a tune seen from the API (only routed kinds are kept, the newest `size`)."""
        # Every tune fetched passes here: the rule alone, not a whole `Route` built and dropped.
        if base_model(tune):
            self._tunes[tune.id] = tune
            self._tunes.move_to_end(tune.id)
            if len(self._tunes) > self._size:
                self._tunes.popitem(last=False)
        else:
            self._tunes.pop(tune.id, None)

    def route(self, tune: Tune | int, text: str | None) -> Route:
        """`route()` with the remembered tune for a bare id; logs a re-route at DEBUG."""
        if isinstance(tune, Tune):
            self.remember(tune)
        else:
            tune = self._tunes.get(tune, tune)
        found = route(tune, text)
        if found.routed:
            logger.debug("prompt routed: %s", found.describe())
        return found
