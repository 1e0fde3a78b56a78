"""Resumable batch jobs: many prompts from a JSONL file, journaled in SQLite.

    jobs = load_jobs("jobs.jsonl")
    async with AstriaClient() as client:
        summary = await BatchRunner(client, "state.db", "out/", concurrency=8).run(jobs)
"""

from ._cost import DEFAULT_PER_IMAGE_MC, PriceTable
from ._jobs import Job, JobFileError, LineError, job_from_spec, load_jobs, parse_jobs
from ._runner import BatchRunner
from ._state import StateLockedError
from ._summary import (
    BatchBudgetError,
    BatchEvent,
    BatchPlan,
    BatchSummary,
    JobResult,
    StateStatus,
    read_status,
)

__all__ = [
    "DEFAULT_PER_IMAGE_MC",
    "BatchBudgetError",
    "BatchEvent",
    "BatchPlan",
    "BatchRunner",
    "BatchSummary",
    "Job",
    "JobFileError",
    "JobResult",
    "LineError",
    "PriceTable",
    "StateLockedError",
    "StateStatus",
    "job_from_spec",
    "load_jobs",
    "parse_jobs",
    "read_status",
]
