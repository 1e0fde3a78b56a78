"""`BatchRunner`: create, wait for and download many prompts, resumable after a crash."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ..errors import (
    APIConnectionError,
    APIStatusError,
    AstriaError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    FairUseError,
    InvalidParamsError,
    NotFoundError,
    PermissionDeniedError,
    PromptFailedError,
)
from ..models import Prompt
from ._cost import PriceTable
from ._jobs import Job, canonical
from ._recover import recover
from ._state import CREATED, CREATING, DONE, FAILED, PENDING, SENT, Journal, Row, exists
from ._summary import BatchBudgetError, BatchEvent, BatchPlan, BatchSummary, JobResult

if TYPE_CHECKING:
    from .._client import AstriaClient

T = TypeVar("T")
EventHook = Callable[[BatchEvent], None]
# Astria's gateway answers within 30 s (API notes §1.1): a create sent by a crashed run has
# landed, or never will, by then.
DEFAULT_SETTLE = 35.0
# Errors no other job would escape either: stop the run instead of failing every job.
_FATAL = (AuthenticationError, PermissionDeniedError, ConfigurationError)


def _nothing_created(exc: AstriaError) -> bool:
    """True when a failed create provably created nothing, so re-sending it is safe."""
    if isinstance(exc, (InvalidParamsError, FairUseError, BudgetExceededError)):
        return True  # refused here, before sending
    if isinstance(exc, APIConnectionError):
        return not exc.sent
    # 4xx (429 included) is the server refusing; 5xx and 504 may have been processed
    # (API notes §13).
    return isinstance(exc, APIStatusError) and 400 <= exc.status < 500


class BatchRunner:
    """Runs prompt jobs with a durable SQLite journal so a re-run never creates one twice.

    Args:
        client: the client to use (None only for `plan` without tune look-ups).
        state_path: the journal; re-run with the same file to resume.
        out_dir: images go to `out_dir/<job key>/`; None skips downloads.
        concurrency: jobs in flight at once (create, wait and download).
        max_cost: milli-cents the whole journal may spend; None for no limit.
        price_table: the estimate used for `max_cost` and dry runs.
        timeout: seconds each wait may take; a job still waiting resumes on the next run.
        on_event: called with a `BatchEvent` at every step (progress bars).
        skew: seconds of clock difference tolerated when looking up unanswered creates.
        settle: seconds a create journaled by a crashed run may still take to land on the
            server; recovery waits until then before deciding it never arrived.
    """

    def __init__(self, client: AstriaClient | None, state_path: str | Path,
                 out_dir: str | Path | None = None, concurrency: int = 8,
                 max_cost: int | None = None, price_table: PriceTable | None = None, *,
                 timeout: float | None = None, on_event: EventHook | None = None,
                 skew: float = 300.0, settle: float = DEFAULT_SETTLE) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be >= 1")
        if max_cost is not None and max_cost < 0:
            raise ConfigurationError("max_cost must be >= 0 milli-cents")
        self.client = client
        self.state_path = Path(state_path)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.concurrency = concurrency
        self.max_cost = max_cost
        self.prices = price_table or PriceTable()
        self.timeout = timeout
        self.skew = skew
        self.settle = settle
        self.on_event = on_event
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="astria-batch")
        self._journal: Journal | None = None
        self._fast: frozenset[int] = frozenset()
        self._branches: dict[int, bool] = {}  # tune id -> is a fast mock, looked up once
        self._spent = 0
        self._budget_hit = False

    def _emit(self, kind: str, job: Job | str, **kw: Any) -> None:
        if self.on_event is not None:
            self.on_event(BatchEvent(kind, job if isinstance(job, str) else job.key, **kw))

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        # SQLite commits fsync; keep them off the event loop, one at a time.
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    @property
    def journal(self) -> Journal:
        """The open journal (inside `run`)."""
        assert self._journal is not None, "the journal is only open inside run()"
        return self._journal

    async def fast_tunes(self, jobs: Sequence[Job]) -> frozenset[int]:
        """Ids of the jobs' tunes that are `branch=fast` mocks (free); unknown ones are paid."""
        if self.client is None:
            return frozenset()
        ids: set[int] = set()
        for job in jobs:
            ids.add(job.tune_id)
            ids.update(Prompt(id=0, text=job.params.text).referenced_tune_ids)
        client = self.client

        async def probe(tune_id: int) -> int | None:
            if tune_id not in self._branches:
                try:
                    self._branches[tune_id] = (await client.tunes.get(tune_id)).is_fast
                except _FATAL:
                    raise
                except AstriaError:
                    self._branches[tune_id] = False  # e.g. a gallery model: the table prices it
            return tune_id if self._branches[tune_id] else None

        found = await asyncio.gather(*(probe(i) for i in sorted(ids)))
        return frozenset(i for i in found if i is not None)

    async def _seed_fair_use(self, jobs: Sequence[Job]) -> None:
        """Count the prompts the jobs' tunes already have (earlier runs included)."""
        assert self.client is not None
        guard = self.client.fair_use
        if not guard.enabled:
            return
        # Astria's fair-use rule is per tune, not per process (API notes §15): a resumed or
        # repeated batch must not get a fresh allowance.
        tunes = {t for j in jobs for t in guard.charged_tunes(j.tune_id, j.params.text)}

        async def seed(tune_id: int) -> None:
            try:
                await guard.seed(tune_id)
            except _FATAL:
                raise
            except AstriaError:
                pass  # unknown here: the guard still counts what this run sends

        await asyncio.gather(*(seed(t) for t in sorted(tunes)))

    async def plan(self, jobs: Sequence[Job]) -> BatchPlan:
        """What `run` would do, without sending anything (reads the journal if there is one)."""
        rows: dict[str, Row] = {}
        if exists(self.state_path):
            journal = Journal(self.state_path, readonly=True)
            try:
                rows = journal.rows()
            finally:
                journal.close()
        status = {j.key: rows[j.key].status if j.key in rows else PENDING for j in jobs}
        todo = [j for j in jobs if status[j.key] in (PENDING, CREATING)]
        fast = await self.fast_tunes(todo)
        spent = sum(r.cost_mc for r in rows.values() if r.status in SENT and
                    r.status != CREATING)
        costs = [self.prices.job_cost(j, fast) for j in todo]
        fits, running = 0, spent
        for cost in costs:
            if self.max_cost is not None and running + cost > self.max_cost:
                break
            fits, running = fits + 1, running + cost
        values = list(status.values())
        return BatchPlan(total=len(jobs), done=values.count(DONE), failed=values.count(FAILED),
                         to_create=len(todo), to_resume=values.count(CREATED),
                         estimated_mc=sum(costs), spent_mc=spent, max_cost=self.max_cost,
                         fits=fits)

    async def run(self, jobs: Sequence[Job]) -> BatchSummary:
        """Run every job not yet done; returns the summary of all of them.

        Raises:
            BatchBudgetError: `max_cost` stopped jobs from being sent (a BudgetExceededError;
                `.summary` has the rest); everything in flight was finished first.
            StateLockedError: another run holds the journal.
        """
        if self.client is None:
            raise ConfigurationError("BatchRunner.run needs a client")
        self._journal = await self._io(Journal, self.state_path)
        try:
            await self._io(self.journal.add, jobs)
            rows = await self._io(self.journal.rows)
            for job in jobs:
                if rows[job.key].spec != canonical(job.spec):
                    self._emit("changed", job, message="the line changed after its prompt "
                               "was sent; the prompt sent keeps its original parameters")
            await self._recover(rows)
            rows = await self._io(self.journal.rows)
            todo = [j for j in jobs if rows[j.key].status == PENDING]
            self._fast = await self.fast_tunes(todo)
            await self._seed_fair_use(todo)
            self._spent = sum(r.cost_mc for r in rows.values() if r.status in SENT)
            self._budget_hit = False
            await self._dispatch(jobs, rows)
            summary = self._summary(jobs, await self._io(self.journal.rows))
        finally:
            await self._io(self.journal.close)
            self._journal = None
        if self._budget_hit:
            left = summary.counts.get(PENDING, 0)
            raise BatchBudgetError(
                f"stopped before exceeding --max-cost {self.max_cost:,} mc: {left} prompt(s) "
                f"not sent (spent or committed {self._spent:,} mc); raise the budget and "
                "re-run with the same state file to send them", summary)
        return summary

    async def _recover(self, rows: dict[str, Row]) -> None:
        assert self.client is not None
        if not any(r.status == CREATING for r in rows.values()):
            return
        youngest = max(r.creating_at or 0.0 for r in rows.values() if r.status == CREATING)
        wait = youngest + self.settle - time.time()
        if wait > 0:  # a create of the crashed run may still be in flight at Astria
            self._emit("settling", "*", message=f"waiting {wait:.1f} s for creates of the "
                       "interrupted run to land before looking them up")
            await anyio.sleep(wait)
        found = await recover(self.client, rows.values(), skew=self.skew)
        for key, prompt in found.items():
            if prompt is not None:
                await self._io(self.journal.created, key, prompt.id, prompt.cost_mc)
                self._emit("recovered", key, prompt_id=prompt.id)
            else:
                await self._io(self.journal.unsent, key, "the create never reached Astria")
                self._emit("resend", key)

    async def _dispatch(self, jobs: Sequence[Job], rows: dict[str, Row]) -> None:
        slots = anyio.Semaphore(self.concurrency)
        async with anyio.create_task_group() as tg:
            for job in jobs:
                row = rows[job.key]
                if row.status in (DONE, FAILED):
                    continue
                cost = 0
                if row.status == PENDING:
                    cost = self.prices.job_cost(job, self._fast)
                    # In file order: the first job that does not fit stops all later creates.
                    if self._budget_hit or (self.max_cost is not None
                                            and self._spent + cost > self.max_cost):
                        if not self._budget_hit:
                            self._emit("budget", job, message=f"{cost:,} mc would exceed "
                                       f"the budget ({self._spent:,} of {self.max_cost:,} used)")
                        self._budget_hit = True
                        continue
                    self._spent += cost
                await slots.acquire()
                tg.start_soon(self._job, job, row, cost, slots)

    async def _job(self, job: Job, row: Row, cost: int, slots: anyio.Semaphore) -> None:
        try:
            prompt_id = row.prompt_id
            if row.status == PENDING:
                prompt_id = await self._create(job, cost)
            if prompt_id is None:
                return
            prompt = await self._wait(job, prompt_id)
            if prompt is not None:
                await self._download(job, prompt)
        finally:
            slots.release()

    async def _create(self, job: Job, cost: int) -> int | None:
        assert self.client is not None
        await self._io(self.journal.creating, job.key, cost)
        try:
            prompt = await self.client.prompts.create_from(job.tune_id, job.params)
        except _FATAL:
            raise
        except AstriaError as exc:
            if _nothing_created(exc):
                self._spent -= cost
                await self._io(self.journal.unsent, job.key, str(exc))
                self._emit("refused", job, message=str(exc))
            else:  # stays "creating": the next run looks for it on the server
                await self._io(self.journal.note, job.key, str(exc))
                self._emit("unknown", job, message=str(exc))
            return None
        actual = prompt.cost_mc
        if actual is not None:
            self._spent += actual - cost
        await self._io(self.journal.created, job.key, prompt.id, actual)
        self._emit("created", job, prompt_id=prompt.id)
        return prompt.id

    async def _wait(self, job: Job, prompt_id: int) -> Prompt | None:
        assert self.client is not None
        try:
            prompt = await self.client.prompts.wait_images(prompt_id, timeout=self.timeout)
        except PromptFailedError as exc:
            await self._io(self.journal.failed, job.key, str(exc.prompt.user_error))
            self._emit("failed", job, prompt_id=prompt_id, message=str(exc.prompt.user_error))
            return None
        except NotFoundError:
            await self._io(self.journal.failed, job.key, "the prompt no longer exists")
            self._emit("failed", job, prompt_id=prompt_id, message="deleted on the server")
            return None
        except _FATAL:
            raise
        except AstriaError as exc:  # a timeout or outage: the next run resumes the wait
            await self._io(self.journal.note, job.key, str(exc))
            self._emit("stalled", job, prompt_id=prompt_id, message=str(exc))
            return None
        if not prompt.images:
            message = prompt.user_error or "finished without images"
            await self._io(self.journal.failed, job.key, message)
            self._emit("failed", job, prompt_id=prompt_id, message=message)
            return None
        self._emit("finished", job, prompt_id=prompt_id, images=len(prompt.images))
        return prompt

    async def _download(self, job: Job, prompt: Prompt) -> None:
        assert self.client is not None
        count = len(prompt.images)
        if self.out_dir is not None:
            try:
                count = len(await self.client.prompts.download(
                    prompt, self.out_dir / job.dirname))
            except _FATAL:
                raise
            except (AstriaError, OSError) as exc:  # stays "created": re-run downloads the rest
                await self._io(self.journal.note, job.key, f"download: {exc}")
                self._emit("stalled", job, prompt_id=prompt.id, message=str(exc))
                return
        await self._io(self.journal.done, job.key, count, prompt.cost_mc)
        self._emit("downloaded", job, prompt_id=prompt.id, images=count)

    def _summary(self, jobs: Sequence[Job], rows: dict[str, Row]) -> BatchSummary:
        results = []
        for job in jobs:
            row = rows[job.key]
            folder = self.out_dir / job.dirname if self.out_dir and row.status == DONE else None
            results.append(JobResult(key=job.key, line=job.line, tune_id=job.tune_id,
                                     status=row.status, prompt_id=row.prompt_id,
                                     images=row.images, cost_mc=row.cost_mc,
                                     error=row.error, directory=folder))
        stopped = "budget" if self._budget_hit else None
        return BatchSummary(jobs=tuple(results), out_dir=self.out_dir, stopped=stopped)

