"""What a batch run reports: per-job results, the plan of a dry run, progress events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from .._fields_repr import fields_repr
from ..errors import BudgetExceededError
from ._journal import DONE, FAILED, PENDING, Row, Status
from ._state import read_rows

EventKind = Literal["created", "creating", "recovered", "resend", "lookup_failed", "refused",
                    "unsent", "finished", "failed", "downloaded", "stalled", "budget",
                    "settling", "changed", "not_in_file", "held"]
"""What a `BatchEvent` reports:

- ``created``: a create was answered (`prompt_id`).
- ``creating``: a create went unanswered (a 504, a cut-off connection); it is settled and
  looked up in this run.
- ``recovered``: a lookup found the prompt of an unanswered create (`prompt_id`).
- ``resend``: a lookup proved an unanswered create never reached Astria; it is sent again.
- ``lookup_failed``: the lookup could not be made; the job stays ``creating`` (never re-sent
  blindly) and is looked up on the next run.
- ``refused``: the fair-use guard or the server refused the create (`message`); the job is
  failed, nothing was created (`--retry-failed` sends it again).
- ``unsent``: the create reached nobody (an outage, a rate limit); the job stays pending.
- ``finished`` / ``failed``: Astria finished the prompt, with images or with an error.
- ``downloaded``: the images are on disk (`images`).
- ``stalled``: a wait or download that resumes on the next run.
- ``budget``: `max_cost` stopped this job and every later one from being sent.
- ``settling``: waiting for the creates of an interrupted run to land (key ``*``).
- ``changed``: a sent job's line was edited; the prompt keeps what was sent.
- ``not_in_file``: a journaled job is no longer in the job file; left as it is.
- ``held``: another live worker of a shared journal holds the job; this one watches it
  until it is finished (or free again, then runs it).
"""


@attrs.frozen
class BatchEvent:
    """A step of a batch, for progress reporting (`kind` names it, see `EventKind`)."""

    __repr__ = fields_repr

    kind: EventKind
    key: str
    prompt_id: int | None = None
    message: str | None = None
    images: int = 0


@attrs.frozen
class JobResult:
    """One job at the end of a run."""

    __repr__ = fields_repr

    key: str
    line: int
    tune_id: int
    status: Status
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


@attrs.frozen(repr=False)
class BatchSummary:
    """The outcome of `BatchRunner.run`; `ok` when every job is done."""

    jobs: tuple[JobResult, ...]
    out_dir: Path | None = None
    stopped: str | None = None  # why jobs were left unsent (e.g. the budget)
    not_in_file: tuple[str, ...] = ()  # journaled keys the job file no longer has

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        extra = f", not_in_file={len(self.not_in_file)}" if self.not_in_file else ""
        stopped = f", stopped={self.stopped!r}" if self.stopped else ""
        return (f"<BatchSummary {len(self.jobs)} jobs ({counts}), images={self.images}, "
                f"cost_mc={self.cost_mc}{extra}{stopped}>")

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
                "not_in_file": list(self.not_in_file),
                "out_dir": str(self.out_dir) if self.out_dir is not None else None,
                "jobs": [j.to_dict() for j in self.jobs]}


@attrs.frozen
class BatchPlan:
    """What a run would do (`BatchRunner.plan`, the dry run)."""

    __repr__ = fields_repr

    total: int
    done: int
    failed: int
    to_create: int
    to_resume: int
    estimated_mc: int  # of the prompts still to create
    spent_mc: int  # journaled from earlier runs
    max_cost: int | None
    fits: int  # how many of `to_create` fit under max_cost
    not_in_file: int = 0  # journaled jobs the job file no longer has
    # One line per job posted elsewhere than its tune: a LoRA/FaceID tune's prompts run on
    # its base model with `<lora:ID:1>` in the text ("line 3: lora tune 12 runs on ...").
    routed: tuple[str, ...] = ()

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

    __repr__ = fields_repr

    path: Path | str  # the state file, or a redis://… state
    jobs: int
    counts: dict[str, int]  # jobs per status
    cost_mc: int  # spent or committed by the jobs sent
    images: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"jobs": self.jobs, "counts": self.counts, "cost_mc": self.cost_mc,
                "images": self.images}


def read_status(path: str | Path) -> StateStatus:
    """Read a batch state file without changing it (nothing is sent).

    Raises:
        StateFileError: missing, empty, or not a batch state file.
    """
    return status_of(Path(path), read_rows(path))


def status_of(path: str | Path, rows: Mapping[str, Row]) -> StateStatus:
    """The `StateStatus` of journaled rows (of any `Journal`)."""
    counts: Counter[str] = Counter(r.status for r in rows.values())
    spent = sum(r.cost_mc for r in rows.values() if r.status != PENDING)
    return StateStatus(path=path, jobs=len(rows), counts=dict(counts), cost_mc=spent,
                       images=sum(r.images for r in rows.values()))
