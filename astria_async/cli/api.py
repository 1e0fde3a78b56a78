"""`astria api METHOD PATH`: any endpoint, for what the other commands do not cover."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ._root import json_option, key_values, state

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


def _parts(key: str) -> list[str]:
    """`tune[images][]` -> ["tune", "images", ""] (Rails bracket names)."""
    head, bracket, rest = key.partition("[")
    if not head or (bracket and not rest.endswith("]")):
        raise click.BadParameter(f"bad field name {key!r}", param_hint="--form")
    return [head, *(rest[:-1].split("][") if bracket else [])]


def form_fields(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`k=v` form fields as the nested mapping Rails reads: `@path` is a file, `k[]` a list."""
    fields: dict[str, Any] = {}
    for key, value in key_values(pairs, "--form"):
        item: Any = value
        if value.startswith("@"):
            path = Path(value[1:])
            if not path.is_file():
                raise click.BadParameter(f"no such file: {path}", param_hint="--form")
            item = path
        parts = _parts(key)
        is_list = parts[-1] == ""  # `k[]`: the body encoder writes lists back as `k[]`
        if is_list:
            parts.pop()
        *parents, last = parts
        if not last:
            raise click.BadParameter(f"bad field name {key!r}", param_hint="--form")
        node = fields
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise click.BadParameter(f"{key!r} conflicts with an earlier field",
                                         param_hint="--form")
        if is_list:
            node.setdefault(last, []).append(item)
        else:
            node[last] = item
    return fields


@click.command(short_help="Call any endpoint (raw escape hatch).")
@click.argument("method", type=click.Choice(METHODS, case_sensitive=False))
@click.argument("path")
@click.option("-q", "--query", "queries", multiple=True, metavar="KEY=VALUE",
              help="Query parameter (repeatable).")
@click.option("-f", "--form", "forms", multiple=True, metavar="KEY=VALUE",
              help="Form field in Rails bracket form, e.g. -f 'prompt[text]=a cat' or "
                   "-f 'tune[images][]=@a.jpg' (@path uploads a file; repeatable).")
@click.option("--root", help="Wrap the form fields under this key (e.g. prompt).")
@click.option("--json-body", metavar="JSON", help="A JSON request body, sent as is.")
@json_option
@click.pass_context
def api(ctx: click.Context, method: str, path: str, queries: tuple[str, ...],
        forms: tuple[str, ...], root: str | None, json_body: str | None) -> None:
    """Call any endpoint and print the JSON answer, e.g. `astria api GET /users`."""
    st = state(ctx)
    if forms and json_body:
        raise click.UsageError("use either --form or --json-body")
    body: Any = None
    if json_body is not None:
        try:
            body = json.loads(json_body)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--json-body") from None
        if not isinstance(body, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--json-body")
    form = form_fields(forms) if forms else None
    params = key_values(queries, "--query")

    reply = st.run(lambda c: c.request_raw(method, path, params=params or None,
                                           json_body=body, form=form, root=root))
    st.out.log(f"HTTP {reply.status}")
    data = reply.data
    if isinstance(data, str) and not st.out.json:
        st.out.out.print(data, markup=False, highlight=False)
    else:
        st.out.result(data if not isinstance(data, str) else {"text": data})

