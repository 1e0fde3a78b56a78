"""Resumable batch jobs: many prompts from a JSONL file, journaled in SQLite.

    jobs = load_jobs("jobs.jsonl")
    async with AstriaClient() as client:
        summary = await BatchRunner(client, "state.db", "out/").run(jobs)

Jobs are journaled (`Journal`; `SqliteJournal` by default) before each step, so a re-run
with the same state file resumes and never creates a job twice.
"""

from ._cost import DEFAULT_PER_IMAGE_MC, PriceTable
from ._jobs import Job, JobFileError, LineError, job_from_spec, load_jobs, parse_jobs
from ._journal import (
    Journal,
    Mark,
    MarkRefused,
    Row,
    SharedJournal,
    StateFileError,
    StateLockedError,
    Status,
)
from ._runner import BatchRunner
from ._state import SqliteJournal
from ._summary import (
    BatchBudgetError,
    BatchEvent,
    BatchPlan,
    BatchSummary,
    EventKind,
    JobResult,
    StateStatus,
    read_status,
    status_of,
)

__all__ = [
    "DEFAULT_PER_IMAGE_MC",
    "BatchBudgetError",
    "BatchEvent",
    "BatchPlan",
    "BatchRunner",
    "BatchSummary",
    "EventKind",
    "Job",
    "JobFileError",
    "JobResult",
    "Journal",
    "LineError",
    "Mark",
    "MarkRefused",
    "PriceTable",
    "Row",
    "SharedJournal",
    "SqliteJournal",
    "StateFileError",
    "StateLockedError",
    "StateStatus",
    "Status",
    "job_from_spec",
    "load_jobs",
    "parse_jobs",
    "read_status",
    "status_of",
]
