"""Where results and logs go: JSON or rich tables on stdout, everything else on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported on first use: `astria --help` must stay fast
    from rich.console import Console
    from rich.table import Table


def jsonable(obj: Any) -> Any:
    """A model as the server sent it (`raw`), or plain data, ready for json.dumps."""
    raw = getattr(obj, "raw", None)
    if isinstance(raw, Mapping) and raw:
        return dict(raw)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "__attrs_attrs__"):
        import attrs

        return {k: v for k, v in attrs.asdict(obj, recurse=False).items()
                if not k.startswith("_") and k != "raw"}
    return obj


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    return str(obj)


def when(value: datetime | None) -> str:
    """A timestamp for a table cell."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


class Output:
    """Results on stdout (JSON with --json, rich otherwise); logs and progress on stderr."""

    def __init__(self, *, as_json: bool = False) -> None:
        self.json = as_json
        self.emitted = False  # a JSON document is on stdout: an error then goes to stderr
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def out(self) -> Console:
        """The stdout console (tables)."""
        if self._out is None:
            from rich.console import Console

            self._out = Console(soft_wrap=True)
        return self._out

    @property
    def err(self) -> Console:
        """The stderr console (logs, progress)."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, soft_wrap=True)
        return self._err

    @property
    def interactive(self) -> bool:
        """True when stderr is a terminal: progress bars instead of plain lines."""
        return self.err.is_terminal

    def log(self, message: str) -> None:
        """A line for people, on stderr (markup-free: ids and URLs contain brackets)."""
        self.err.print(message, markup=False, highlight=False)

    def emit(self, data: Any) -> None:
        """Machine-readable result: one JSON document on stdout."""
        sys.stdout.write(json.dumps(data, indent=2, default=_default, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        self.emitted = True

    def result(self, data: Any, table: Table | None = None, text: str | None = None) -> None:
        """JSON in --json mode, else the table or text."""
        if self.json:
            self.emit(data)
        elif table is not None:
            self.out.print(table)
        elif text is not None:
            self.out.print(text, markup=False, highlight=False)
        else:
            self.out.print_json(json.dumps(data, default=_default, ensure_ascii=False))

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              title: str | None = None) -> Table:
        """A rich table; cells are shown as plain text."""
        from rich.table import Table
        from rich.text import Text

        grid = Table(*columns, title=title, title_justify="left", header_style="bold")
        for row in rows:
            grid.add_row(*(Text("-" if c is None else str(c)) for c in row))
        return grid

    def fields(self, data: Mapping[str, Any], title: str | None = None) -> Table:
        """A two-column field/value table for one object."""
        rows = [(k, json.dumps(v, default=_default) if isinstance(v, (list, dict)) else v)
                for k, v in data.items() if v not in (None, "", [], {})]
        return self.table(("field", "value"), rows, title=title)
