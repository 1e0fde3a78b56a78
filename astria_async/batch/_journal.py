"""The journal a batch writes before each step: the interface any store implements.

A journal holds one `Row` per job. Its one promise is ordering: `creating` returns only when
the "about to create" marks are durable, and the runner sends a create only after that. So
after any crash every job whose prompt may exist on Astria is at least `creating`, and the next
run looks it up on the server instead of sending it again.

Status of a job (the `Status` literal; `JobResult.status` uses the same names):

- ``pending``: not sent (or provably never reached Astria); the next run sends it.
- ``creating``: a create was journaled and may have reached Astria, answer unknown (a crash,
  a 504, a cut-off connection). The run that sees it settles, looks it up and goes on; it is
  never re-sent blindly.
- ``created``: the prompt id is known; waiting for or downloading its images.
- ``done``: its images are on disk.
- ``failed``: refused (by the fair-use guard, or by the server with a 4xx: nothing was
  created) or finished by Astria with an error; `error` says which. A run
  re-sends failed jobs only when asked (`retry_failed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import attrs

from .._fields_repr import fields_repr
from ..errors import AstriaError

if TYPE_CHECKING:
    from ._jobs import Job

Status = Literal["pending", "creating", "created", "done", "failed"]
PENDING: Status = "pending"
CREATING: Status = "creating"
CREATED: Status = "created"
DONE: Status = "done"
FAILED: Status = "failed"
SENT: tuple[Status, ...] = (CREATING, CREATED, DONE, FAILED)


class StateLockedError(AstriaError):
    """Another process is running a batch on this journal; `holder` describes it."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        self.holder = holder
        super().__init__(message)


class StateFileError(AstriaError):
    """The journal cannot be used (not a batch state file, truncated, disk full…).

    Raised before anything is sent, or stops a run with what was journaled kept as it was.
    """


class MarkRefused(AstriaError):
    """A shared journal marked only part of a group: `refused` maps each key it did not mark
    to why (another worker holds the job now). Nothing of those jobs may be sent; the others
    were marked at `at` as usual."""

    def __init__(self, refused: Mapping[str, AstriaError], at: float) -> None:
        self.refused = dict(refused)
        self.at = at
        super().__init__(f"{len(self.refused)} job(s) held by another worker")


@attrs.frozen
class Row:
    """A job as journaled."""

    __repr__ = fields_repr

    key: str
    line: int
    tune_id: int
    spec: str  # canonical JSON of the spec it was (or will be) sent with
    status: Status
    prompt_id: int | None
    creating_at: float | None  # when the last create was journaled (time.time())
    creates: int  # how many creates were journaled for it (1 for a job sent once)
    cost_mc: int
    images: int
    error: str | None


@attrs.frozen
class Mark:
    """One "about to create" entry of a group commit: the job and its estimated cost."""

    __repr__ = fields_repr

    key: str
    cost_mc: int


class Journal(Protocol):
    """A durable per-job journal; `SqliteJournal` is the default, others plug in here.

    Used by one `BatchRunner` from one event loop; every method is a coroutine. Methods other
    than `claim` are called only between a successful `claim` and `close`. The runner never
    reads a journal's attributes, only these methods.

    - `claim()`: open the store and take exclusive ownership of it, so that no other run
      (another process, another alias of the same file or key) can write it meanwhile.
      Raises `StateLockedError` naming the holder, or `StateFileError`. (A `SharedJournal`
      is owned job by job instead: see there.)
    - `close()`: release ownership; idempotent.
    - `add(jobs, retry_failed)`: record jobs not seen before as pending (keyed by `Job.key`);
      a pending one takes the job file's spec, a sent one keeps the spec it was sent with.
      With `retry_failed`, failed jobs of `jobs` go back to pending.
    - `rows()`: every journaled job by key, the ones not in the job file included.
    - `creating(marks)`: mark a group of jobs as about to be created (status creating,
      `creates + 1`, the time, the estimated cost), durably and all-or-nothing; returns the
      time recorded. Only after it returns may any of them be sent.
    - `created(key, prompt_id, cost_mc)`: the create was answered (or found by a lookup).
    - `unsent(key, error)`: the create provably reached nobody; back to pending.
    - `note(key, error)`: keep the status, remember why the job did not finish this run.
    - `done(key, images, cost_mc)`: its images are on disk.
    - `failed(key, error, cost_mc)`: refused (`cost_mc=0`: nothing was created) or finished
      with an error.

    Writes other than `creating` need not be durable at once: losing `created` sends the job
    back to `creating` (a lookup finds it), losing `done` downloads again.

    Field rules an implementation keeps (`SqliteJournal` is the reference): `add` updates
    every given job's `line`; a retried job gets the file's spec and tune, `cost_mc = 0` and
    `error = None`. `creating`, `created` and `done` clear `error`; `unsent` sets
    `cost_mc = 0`; a `cost_mc` of None keeps the stored one; `note` changes only `error`.
    `creating_at` is the time `creating` returns (wall clock, `time.time()`). A journal may
    be claimed again after `close` (each `run` claims and closes it).
    """

    async def claim(self) -> None: ...

    async def close(self) -> None: ...

    async def add(self, jobs: Sequence[Job], *, retry_failed: bool = False) -> None: ...

    async def rows(self) -> dict[str, Row]: ...

    async def creating(self, marks: Sequence[Mark]) -> float: ...

    async def created(self, key: str, prompt_id: int, cost_mc: int | None = None) -> None: ...

    async def unsent(self, key: str, error: str) -> None: ...

    async def note(self, key: str, error: str) -> None: ...

    async def done(self, key: str, images: int, cost_mc: int | None = None) -> None: ...

    async def failed(self, key: str, error: str, cost_mc: int | None = None) -> None: ...


@runtime_checkable
class SharedJournal(Journal, Protocol):
    """A `Journal` several workers (processes, machines) run one job file against at once.

    Differences from a `Journal` (the runner checks `isinstance(journal, SharedJournal)`):

    - `claim()` joins the store as one more worker; it excludes nobody (a second `claim`
      of a handle already claimed, or a store that cannot be used, still raises).
    - `take(key)`: before any step on a job, the runner takes it for this worker: the job
      is this worker's until it closes or dies (its lease lapses). Returns the job's row as
      it is now, or None while another live worker holds it (the runner then skips it).
    - `held(keys)`: of the jobs skipped so, those another live worker still holds unfinished
      and those free to take (finished ones in neither). The runner asks every
      `retry_after` seconds, and takes only the free ones, until none is left.
    - `creating(marks)` may mark only part of a group: it raises `MarkRefused` naming the
      jobs it refused (no longer this worker's) with the time the others were marked.
    - Writes to a job this worker no longer holds are dropped: the worker that took it over
      decides (a `creating` job taken over is looked up, never re-sent blindly). Only
      progress the job has not made yet (`created`, `done`) is kept: those are facts.
    """

    retry_after: float

    async def take(self, key: str) -> Row | None: ...

    async def held(self, keys: Sequence[str]) -> tuple[list[str], list[str]]: ...
