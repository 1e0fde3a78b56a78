"""After a crash: find on the server the prompts whose create was journaled but not answered."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._config import BATCH_LOOKUP_TEXT_BYTES as LOOKUP_TEXT_BYTES
from .._routing import Route
from ..errors import AstriaError
from ..models import Prompt
from ._journal import CREATING, Row

if TYPE_CHECKING:
    from .._client import AstriaClient

# Attributes Astria echoes on a prompt (API notes §4) that tell two same-text prompts apart.
MATCH_FIELDS = (
    "num_images", "seed", "negative_prompt", "cfg_scale", "steps", "w", "h", "aspect_ratio",
    "resolution", "super_resolution", "face_correct", "inpaint_faces", "hires_fix", "face_swap",
    "scheduler", "style", "controlnet", "denoising_strength",
)
# Stop walking a tune's prompts after this many without a created_at to bound by.
MAX_SCAN = 2_000


def matches(spec: Mapping[str, Any], prompt: Prompt) -> bool:
    """True when the prompt carries the spec's text and every attribute both sides have."""
    if (spec.get("text") or None) != (prompt.text or None):
        return False
    for field in MATCH_FIELDS:
        want, got = spec.get(field), getattr(prompt, field, None)
        if want is None or want == "" or got is None or got == "":
            continue  # not asked for, or not echoed by the server: no evidence either way
        if isinstance(want, float) or isinstance(got, float):
            if not math.isclose(float(want), float(got), rel_tol=1e-6):
                return False
        elif want != got:
            return False
    return True


def _created(prompt: Prompt) -> float | None:
    return prompt.created_at.timestamp() if prompt.created_at is not None else None


def lookup_text(text: str | None) -> str | None:
    """A prefix of `text` short enough for a query string (`text` filters by substring,
    API notes §5.3); the rest is compared locally (`matches`)."""
    if not text:
        return None
    size, end = 0, 0
    for end, char in enumerate(text):
        size += len(quote(char, safe=""))
        if size > LOOKUP_TEXT_BYTES:
            return text[:end] or None
    return text


async def candidates(client: AstriaClient, tune_id: int, text: str | None, since: float,
                     claimed: set[int]) -> list[Prompt]:
    """Unclaimed prompts of a tune whose text contains `text`, created after `since`, oldest
    first."""
    found: list[Prompt] = []
    scanned = 0
    # Newest first (API notes §5.3): stop at the first prompt older than the journal entry.
    async for prompt in client.prompts.list(tune_id=tune_id, text=text):
        created = _created(prompt)
        if created is not None and created < since:
            break
        scanned += 1
        if scanned > MAX_SCAN:
            break
        if prompt.id not in claimed:
            found.append(prompt)
    found.sort(key=lambda p: p.id)
    return found


Found = Prompt | None | AstriaError
"""A lookup's answer for one job: the prompt, None (it never reached Astria), or the error
that kept the lookup from being made (the job then stays `creating`: never re-sent)."""


async def recover(client: AstriaClient, rows: Iterable[Row], *, skew: float,
                  route: Callable[[int, str | None], Route] = Route,
                  claimed: set[int] | None = None) -> dict[str, Found]:
    """Map each `creating` job to the prompt its create made (see `Found`).

    `skew` widens the time window by the clock difference allowed between here and Astria;
    `route` gives the tune a job's prompt was posted to and the text sent (a LoRA job's runs
    on the base model with `<lora:ID:1>` added), or raises the `AstriaError` that keeps that
    from being known; `claimed` holds the prompt ids already tied to a job (updated with the
    ones found).
    """
    rows = list(rows)
    if claimed is None:
        claimed = set()
    claimed.update(r.prompt_id for r in rows if r.prompt_id is not None)
    result: dict[str, Found] = {}
    groups: dict[tuple[int, str | None], list[tuple[Row, dict[str, Any]]]] = {}
    for row in rows:
        if row.status == CREATING:
            spec = json.loads(row.spec)
            try:
                target = route(row.tune_id, spec.get("text"))
            except AstriaError as exc:
                result[row.key] = exc
                continue
            spec["text"] = target.text  # what was sent, and so what the prompt shows
            groups.setdefault((target.tune_id, lookup_text(target.text)), []).append(
                (row, spec))
    for (tune_id, text), group in groups.items():
        group.sort(key=lambda item: item[0].creating_at or 0.0)
        since = (group[0][0].creating_at or 0.0) - skew
        try:
            pool = await candidates(client, tune_id, text, since, claimed)
        except AstriaError as exc:
            for row, _ in group:
                result[row.key] = exc
            continue
        # Oldest journal entry takes the oldest matching prompt: creates were sent in that order.
        for row, spec in group:
            start = (row.creating_at or 0.0) - skew
            hit = next((p for p in pool if matches(spec, p)
                        and (_created(p) is None or (_created(p) or 0.0) >= start)), None)
            if hit is not None:
                pool.remove(hit)
                claimed.add(hit.id)
            result[row.key] = hit
    return result
