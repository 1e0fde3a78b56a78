"""Progress on stderr: rich bars on a terminal, one plain line per step otherwise."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

    from ._output import Output


class Task:
    """One counter (uploads, trained, finished, downloaded...)."""

    def __init__(self, board: Progress, name: str, total: float | None, unit: str) -> None:
        self._board = board
        self.name = name
        self.total = total
        self.unit = unit
        self.done = 0.0
        self._id: Any = None
        if board.bars is not None:
            self._id = board.bars.add_task(name, total=total)

    def advance(self, amount: float = 1, note: str | None = None) -> None:
        """Count `amount` more; `note` is printed in plain mode."""
        with self._board.lock:
            self.done += amount
            if self._board.bars is not None:
                self._board.bars.update(self._id, completed=self.done)
            elif note is not None:
                total = f"/{self.total:g}" if self.total is not None else ""
                self._board.out.log(f"{self.name} {self.done:g}{total}{self.unit}: {note}")

    def set_total(self, total: float) -> None:
        """Change the expected total (e.g. once the number of images is known)."""
        self.total = total
        if self._board.bars is not None:
            self._board.bars.update(self._id, total=total)


class Progress:
    """A set of tasks shown together; use as a context manager around the work."""

    def __init__(self, out: Output, *, transfer: bool = False) -> None:
        """`transfer`: the counters are bytes (sizes and speed instead of m/n)."""
        self.out = out
        self.lock = threading.Lock()  # uploads report from worker threads
        self.bars: RichProgress | None = None
        if out.interactive:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                Progress,
                ProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TransferSpeedColumn,
            )

            counts: tuple[ProgressColumn, ...] = (
                (DownloadColumn(), TransferSpeedColumn()) if transfer
                else (MofNCompleteColumn(),))
            self.bars = Progress(TextColumn("{task.description:<12}"), BarColumn(), *counts,
                                 TimeElapsedColumn(), console=out.err)

    def task(self, name: str, total: float | None = None, unit: str = "") -> Task:
        """Add a counter."""
        return Task(self, name, total, unit)

    def __enter__(self) -> Progress:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.bars is not None:
            self.bars.stop()
