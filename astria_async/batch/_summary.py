"""What a batch run reports: per-job results, the plan of a dry run, progress events."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from ..errors import BudgetExceededError
from ._state import DONE, FAILED, PENDING, Journal


@attrs.frozen
class BatchEvent:
    """A step of a batch, for progress reporting (`kind` names it)."""

    # kinds: recovered, resend, created, refused, unknown, finished, failed, downloaded,
    # stalled (a wait or download that will resume on the next run), budget, settling,
    # changed (a sent job's line was edited)
    kind: str
    key: str
    prompt_id: int | None = None
    message: str | None = None
    images: int = 0


@attrs.frozen
class JobResult:
    """One job at the end of a run."""

    key: str
    line: int
    tune_id: int
    status: str
    prompt_id: int | None
    images: int
    cost_mc: int
    error: str | None
    directory: Path | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = attrs.asdict(self)
        data["directory"] = str(self.directory) if self.directory is not None else None
        return data


@attrs.frozen
class BatchSummary:
    """The outcome of `BatchRunner.run`; `ok` when every job is done."""

    jobs: tuple[JobResult, ...]
    out_dir: Path | None = None
    stopped: str | None = None  # why jobs were left unsent (e.g. the budget)

    @property
    def counts(self) -> dict[str, int]:
        """Jobs per status."""
        return dict(Counter(j.status for j in self.jobs))

    @property
    def ok(self) -> bool:
        """True when every job has its images."""
        return all(j.status == DONE for j in self.jobs)

    @property
    def failed(self) -> tuple[JobResult, ...]:
        """Jobs Astria finished with an error."""
        return tuple(j for j in self.jobs if j.status == FAILED)

    @property
    def images(self) -> int:
        """Images downloaded (or available, without an output directory)."""
        return sum(j.images for j in self.jobs)

    @property
    def cost_mc(self) -> int:
        """Milli-cents spent: Astria's `cost_mc` where known, the estimate otherwise."""
        return sum(j.cost_mc for j in self.jobs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "counts": self.counts, "images": self.images,
                "cost_mc": self.cost_mc, "stopped": self.stopped,
                "out_dir": str(self.out_dir) if self.out_dir is not None else None,
                "jobs": [j.to_dict() for j in self.jobs]}


@attrs.frozen
class BatchPlan:
    """What a run would do (`BatchRunner.plan`, the dry run)."""

    total: int
    done: int
    failed: int
    to_create: int
    to_resume: int
    estimated_mc: int  # of the prompts still to create
    spent_mc: int  # journaled from earlier runs
    max_cost: int | None
    fits: int  # how many of `to_create` fit under max_cost

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return attrs.asdict(self)


class BatchBudgetError(BudgetExceededError):
    """The budget stopped a batch; `summary` says what was done before it."""

    def __init__(self, message: str, summary: BatchSummary) -> None:
        self.summary = summary
        super().__init__(message)


@attrs.frozen
class StateStatus:
    """What a state file has journaled (`read_status`)."""

    path: Path
    jobs: int
    counts: dict[str, int]  # jobs per status
    cost_mc: int  # spent or committed by the jobs sent
    images: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"jobs": self.jobs, "counts": self.counts, "cost_mc": self.cost_mc,
                "images": self.images}


def read_status(path: str | Path) -> StateStatus:
    """Read a batch state file without changing it (nothing is sent)."""
    journal = Journal(path, readonly=True)
    try:
        rows = journal.rows()
    finally:
        journal.close()
    counts = Counter(r.status for r in rows.values())
    spent = sum(r.cost_mc for r in rows.values() if r.status != PENDING)
    return StateStatus(path=Path(path), jobs=len(rows), counts=dict(counts), cost_mc=spent,
                       images=sum(r.images for r in rows.values()))
