"""What the CLI takes where a tune goes: an id or a model name (`--model gemini`), media given
as a file or a URL, and `--reference NAME=PATH_OR_URL` faceid references."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ._output import Output


def is_url(value: str) -> bool:
    """http(s) URLs go in the `_url` twin of a media field."""
    return value.lower().startswith(("http://", "https://"))


def tune_target(ctx: click.Context | None, param: click.Parameter | None,
                value: str | None) -> int | str | None:
    """A click callback: a tune id, or a model name of the catalogue ("gemini", "seedream",
    "gpt-image-2")."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    from ..errors import InvalidParamsError
    from ..params import tune_ref

    try:
        return tune_ref("tune_id", text)
    except InvalidParamsError:
        raise click.BadParameter(f"{value!r} is neither a tune id nor a model name such as "
                                 "'gemini'", ctx=ctx, param=param) from None


# The options of a tune given by id or by model name.
TUNE_REF: dict[str, Any] = {"callback": tune_target, "metavar": "TUNE_ID|MODEL"}


def media(field: str, value: str | None) -> dict[str, Any]:
    """`{field: Path}` for a local file, `{field_url: value}` for a URL, {} for None."""
    if value is None:
        return {}
    return {f"{field}_url": value} if is_url(value) else {field: Path(value)}


def ordered_media(field: str, values: Sequence[str]) -> dict[str, Any]:
    """Ordered inputs (`--image-reference`): all files or all URLs, as Astria requires."""
    if not values:
        return {}
    urls = [is_url(v) for v in values]
    if any(urls) and not all(urls):
        raise click.BadParameter("give all files or all URLs, not a mix",
                                 param_hint=f"--{field.replace('_', '-')[:-1]}")
    if all(urls):
        return {f"{field[:-1]}_urls": list(values)}
    return {field: [Path(v) for v in values]}


def parse_references(values: Sequence[str]) -> list[tuple[str, str]]:
    """`NAME=PATH_OR_URL` pairs; a missing `=` or a missing file is a usage error."""
    pairs = []
    for value in values:
        name, sep, source = value.partition("=")
        if not sep or not name.strip() or not source:
            raise click.BadParameter(f"expected NAME=PATH_OR_URL, got {value!r}",
                                     param_hint="--reference")
        if not is_url(source) and not Path(source).is_file():
            raise click.BadParameter(f"no such file: {source}", param_hint="--reference")
        pairs.append((name.strip(), source))
    return pairs


async def add_references(client: AstriaClient, out: Output, references: Sequence[tuple[str, str]],
                         target: int | str, texts: Sequence[str | None]) -> list[str | None]:
    """Create one faceid reference tune per `(name, source)` on the target model, as Astria's
    CLI does, and put `<faceid:ID:1> NAME` in front of each text that lacks it (None stays)."""
    tokens = []
    for name, source in references:
        files = {"image_urls": [source]} if is_url(source) else {"images": [Path(source)]}
        title = Path(source.split("?", 1)[0]).stem or name
        tune = await client.tunes.create(title=title, name=name, model_type="faceid",
                                         base_tune_id=target, **files)
        out.log(f"created reference tune {tune.id} ({name}) from {source}")
        tokens.append(f"<faceid:{tune.id}:1> {tune.name or name}")
    result: list[str | None] = []
    for text in texts:
        if text is None:
            result.append(None)
            continue
        missing = [t for t in tokens if t.split(" ", 1)[0] not in text]
        result.append(" ".join([*missing, text]) if missing else text)
    return result


def _ids_in(text: str) -> list[int]:
    """Prompt ids in a file: the JSON `--json` prints (objects with `id`), or bare numbers."""
    import json
    import re

    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if data is not None:
        items = data if isinstance(data, list) else [data]
        ids = [item.get("id") if isinstance(item, dict) else item for item in items]
        numbers = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        if len(numbers) == len(ids):
            return numbers
    tokens = [t for t in re.split(r"[\s,]+", text) if t]
    bad = [t for t in tokens if not t.isdigit()]
    if bad:
        raise click.BadParameter(f"not a prompt id: {bad[0]!r}", param_hint="--prompts-file")
    return [int(t) for t in tokens]


def gather_ids(given: Sequence[int], source: Any) -> list[int]:
    """Ids from the arguments, then from `source` (a file) or stdin when it is piped."""
    import sys

    ids = list(given)
    if source is not None:
        ids += _ids_in(source.read())
    elif not ids and not sys.stdin.isatty():
        ids += _ids_in(sys.stdin.read())
    if not ids:
        raise click.UsageError("give prompt ids as arguments, with --prompts-file, or on stdin")
    return list(dict.fromkeys(ids))
