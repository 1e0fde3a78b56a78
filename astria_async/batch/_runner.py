"""`BatchRunner`: create, wait for and download many prompts, resumable after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import attrs

from .._config import BATCH_CONCURRENCY, BATCH_SETTLE
from .._routing import Route, route
from ..errors import (
    APIConnectionError,
    APIStatusError,
    AstriaError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    PromptFailedError,
    maybe_processed,
)
from ..models import Prompt, Tune
from ._cost import PriceTable
from ._group import GroupCommit
from ._jobs import Job, canonical
from ._journal import (
    CREATED,
    CREATING,
    DONE,
    FAILED,
    PENDING,
    SENT,
    Journal,
    Row,
    SharedJournal,
    StateLockedError,
    Status,
)
from ._recover import recover
from ._state import SqliteJournal, read_rows
from ._summary import BatchBudgetError, BatchEvent, BatchPlan, BatchSummary, EventKind, JobResult

if TYPE_CHECKING:
    from .._client import AstriaClient

EventHook = Callable[[BatchEvent], None]
DEFAULT_SETTLE = BATCH_SETTLE
# Errors no other job would escape either: stop the run instead of failing every job.
_FATAL = (AuthenticationError, PermissionDeniedError, ConfigurationError)
# Creates to send per job and run: the first, and one more when a lookup proved the first
# never reached Astria.
_ATTEMPTS = 2
# A shared journal: jobs looked at in one round trip before they are taken one by one, so
# that those other workers hold or finished cost no take (workers walk one file together).
_PEEK = 64


def _transient(exc: AstriaError) -> bool:
    """A create that reached nobody for a reason that passes (an outage, a rate limit, the
    budget): the job stays pending for the next run instead of failing."""
    if isinstance(exc, (APIConnectionError, BudgetExceededError)):
        return True
    return isinstance(exc, APIStatusError) and exc.status in (408, 429)


def _astria_error(exc: BaseException) -> AstriaError | None:
    """The library error inside an exception group (as the callers of `run` expect it)."""
    if isinstance(exc, AstriaError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _astria_error(inner)
        if found is not None:
            return found
    return None


class BatchRunner:
    """Runs prompt jobs with a durable journal so a re-run never creates one twice.

    Args:
        client: the client to use (None only for `plan` without tune look-ups).
        state_path: the SQLite journal; re-run with the same file to resume. Or
            `redis://host:6379/0/<job-name>`: a journal in Redis that several workers run
            one job file against at once (the client must coordinate through that Redis:
            `AstriaClient(coordination="redis://host:6379/0")`, see `coordination`).
        out_dir: images go to `out_dir/<job key>/`; None skips downloads.
        concurrency: jobs in flight at once (create, wait and download); None lets the
            client's fair-use in-flight bounds decide (`BATCH_CONCURRENCY` at most).
        max_cost: milli-cents the whole journal may spend; None for no limit.
        price_table: the estimate used for `max_cost` and dry runs.
        timeout: seconds each wait may take; a job still waiting resumes on the next run.
        on_event: called with a `BatchEvent` at every step (progress bars).
        skew: seconds of clock difference tolerated when looking up unanswered creates.
        settle: seconds an unanswered create may still take to land on the server; its
            lookup waits until then before deciding it never arrived.
        retry_failed: send failed jobs again (a refused job, or a prompt Astria failed:
            that one is paid again).
        journal: another `Journal` implementation; `state_path` is then only a label.
    """

    def __init__(self, client: AstriaClient | None, state_path: str | Path,
                 out_dir: str | Path | None = None, concurrency: int | None = None,
                 max_cost: int | None = None, price_table: PriceTable | None = None, *,
                 timeout: float | None = None, on_event: EventHook | None = None,
                 skew: float = 300.0, settle: float = DEFAULT_SETTLE,
                 retry_failed: bool = False, journal: Journal | None = None) -> None:
        if concurrency is not None and concurrency < 1:
            raise ConfigurationError("concurrency must be >= 1")
        if max_cost is not None and max_cost < 0:
            raise ConfigurationError("max_cost must be >= 0 milli-cents")
        self.client = client
        self.state_url = (state_path if isinstance(state_path, str)
                          and state_path.startswith(("redis://", "rediss://")) else None)
        self.state_path = Path(state_path)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.concurrency = concurrency
        self.max_cost = max_cost
        self.prices = price_table or PriceTable()
        self.timeout = timeout
        self.skew = skew
        self.settle = settle
        self.retry_failed = retry_failed
        self.on_event = on_event
        self._custom_journal = journal
        self._journal: Journal | None = None
        self._marks: GroupCommit | None = None
        self._claimed: set[int] = set()
        self._shared: SharedJournal | None = None
        self._looked: set[str] = set()  # creating jobs looked up in this run
        # A shared journal: jobs another worker took from this one's tasks, watched to the end
        # (`_dispatch_all`); `_ended` is set whenever a task of this worker ends.
        self._handed: list[Job] = []
        self._ended = anyio.Event()
        self._lookups = asyncio.Lock()
        self._per_tune: dict[int, anyio.Semaphore] = {}
        self._fast: frozenset[int] = frozenset()
        # tune id -> the tune (or why it could not be read), looked up once per runner
        self._tunes: dict[int, Tune | AstriaError] = {}
        self._spent = 0
        self._budget_hit = False

    def _emit(self, kind: EventKind, job: Job | str, **kw: Any) -> None:
        if self.on_event is not None:
            self.on_event(BatchEvent(kind, job if isinstance(job, str) else job.key, **kw))

    @property
    def journal(self) -> Journal:
        """The claimed journal (inside `run`)."""
        assert self._journal is not None, "the journal is only open inside run()"
        return self._journal

    def route(self, tune_id: int, text: str | None) -> Route:
        """Where a job's prompt is posted (and looked up after a lost answer).

        A LoRA or FaceID tune's prompts run on its base model with `<lora:ID:1>` in the text
        (API notes §5.1); `_routing.route` decides from the tune, which the runner looked
        up before sending. A tune that could not be looked up is posted to as given.
        """
        tune = self._tunes.get(tune_id)
        return route(tune if isinstance(tune, Tune) else tune_id, text)

    def recovery_route(self, tune_id: int, text: str | None) -> Route:
        """`route`, for a create already sent: raises when the tune could not be read.

        Looking a LoRA job up on the tune itself would find nothing and so re-send it; not
        knowing where it went keeps the job `creating` (looked up again next run).
        """
        tune = self._tunes.get(tune_id)
        if isinstance(tune, AstriaError):
            raise tune
        return self.route(tune_id, text)

    async def post(self, job: Job) -> Prompt:
        """Send a job's create (after its "creating" mark is durable)."""
        assert self.client is not None
        where = self.route(job.tune_id, job.params.text)
        params = job.params
        if where.routed:
            params = attrs.evolve(params, text=where.text)
        return where.mark(await self.client.prompts.create_from(where.tune_id, params))

    def in_flight(self) -> int:
        """Jobs run at once: `concurrency`, or what fair use lets be in flight."""
        limit = self.concurrency or BATCH_CONCURRENCY
        policy = self.client.fair_use.policy if self.client is not None else None
        if policy is not None and policy.max_in_flight is not None:
            # A job past the guard's bound would be marked "creating" long before its create
            # is sent (it waits for a place): recovery's settle time would not cover it.
            return min(policy.max_in_flight, limit)
        return limit

    @contextlib.asynccontextmanager
    async def _tune_places(self, job: Job) -> AsyncIterator[None]:
        """Hold the job's places under the guard's per-tune bound from before its mark until
        it ends, so the guard never keeps a marked create waiting (see `in_flight`)."""
        guard = self.client.fair_use if self.client is not None else None
        bound = guard.policy.max_in_flight_per_tune if guard and guard.policy else None
        if guard is None or bound is None:
            yield
            return
        async with contextlib.AsyncExitStack() as stack:
            for tune in sorted(set(guard.charged_tunes(job.tune_id, job.params.text))):
                slot = self._per_tune.setdefault(tune, anyio.Semaphore(bound))
                await stack.enter_async_context(slot)
            yield

    async def fast_tunes(self, jobs: Sequence[Job]) -> frozenset[int]:
        """Ids of the jobs' tunes that are `branch=fast` mocks (free); unknown ones are paid."""
        if self.client is None:
            return frozenset()
        ids: set[int] = set()
        for job in jobs:
            ids.add(job.tune_id)
            ids.update(Prompt(id=0, text=job.params.text).referenced_tune_ids)
        async def probe(tune_id: int) -> int | None:
            tune = await self._tune(tune_id)
            return tune_id if isinstance(tune, Tune) and tune.is_fast else None

        found = await asyncio.gather(*(probe(i) for i in sorted(ids)))
        return frozenset(i for i in found if i is not None)

    async def _tune(self, tune_id: int) -> Tune | AstriaError:
        """The tune, looked up once (a gallery model or an error: why it could not be read)."""
        assert self.client is not None
        if tune_id not in self._tunes:
            try:
                self._tunes[tune_id] = await self.client.tunes.get(tune_id)
            except _FATAL:
                raise
            except AstriaError as exc:  # e.g. a gallery model: the table prices it
                self._tunes[tune_id] = exc
        return self._tunes[tune_id]

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

    def _status(self, jobs: Sequence[Job], rows: dict[str, Row]) -> dict[str, Status]:
        status = {j.key: rows[j.key].status if j.key in rows else PENDING for j in jobs}
        if self.retry_failed:
            status = {k: PENDING if v == FAILED else v for k, v in status.items()}
        return status

    async def plan(self, jobs: Sequence[Job]) -> BatchPlan:
        """What `run` would do, without sending anything (reads the journal if there is one)."""
        rows: dict[str, Row] = {}
        if self._custom_journal is None and self.state_url is None and self.state_path.exists():
            rows = read_rows(self.state_path)
        status = self._status(jobs, rows)
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
        keys = {j.key for j in jobs}
        return BatchPlan(total=len(jobs), done=values.count(DONE), failed=values.count(FAILED),
                         to_create=len(todo), to_resume=values.count(CREATED),
                         estimated_mc=sum(costs), spent_mc=spent, max_cost=self.max_cost,
                         fits=fits, not_in_file=sum(1 for k in rows if k not in keys),
                         routed=tuple(f"line {j.line}: {where.describe()}" for j in todo
                                      if (where := self.route(j.tune_id, j.params.text)).routed))

    async def run(self, jobs: Sequence[Job]) -> BatchSummary:
        """Run every job not yet done; returns the summary of all of them.

        Raises:
            BatchBudgetError: `max_cost` stopped jobs from being sent (a BudgetExceededError;
                `.summary` has the rest); everything in flight was finished first.
            StateLockedError: another run holds the journal.
            StateFileError: the journal is not usable (nothing was sent).
        """
        if self.client is None:
            raise ConfigurationError("BatchRunner.run needs a client")
        journal = self._custom_journal
        if journal is None and self.state_url is not None:
            from ._redis_journal import batch_journal

            journal = batch_journal(self.client, self.state_url)
        journal = journal or SqliteJournal(self.state_path)
        await journal.claim()
        self._journal = journal
        self._shared = journal if isinstance(journal, SharedJournal) else None
        self._looked = set()
        try:
            summary = await self._run(jobs)
        finally:
            self._journal = None
            self._marks = None
            await journal.close()
        if self._budget_hit:
            left = summary.counts.get(PENDING, 0)
            raise BatchBudgetError(
                f"stopped before exceeding --max-cost {self.max_cost:,} mc: {left} prompt(s) "
                f"not sent (spent or committed {self._spent:,} mc); raise the budget and "
                "re-run with the same state file to send them", summary)
        return summary

    async def _run(self, jobs: Sequence[Job]) -> BatchSummary:
        self._marks = GroupCommit(self.journal.creating)
        await self.journal.add(jobs, retry_failed=self.retry_failed)
        rows = await self.journal.rows()
        for job in jobs:
            if rows[job.key].spec != canonical(job.spec):
                self._emit("changed", job, message="the line changed after its prompt "
                           "was sent; the prompt sent keeps its original parameters")
        keys = {j.key for j in jobs}
        for key, row in rows.items():
            if key not in keys:  # never deleted, never re-sent: the user may want it back
                self._emit("not_in_file", key, prompt_id=row.prompt_id,
                           message=f"{row.status}, not in the job file (left as it is)")
        self._claimed = {r.prompt_id for r in rows.values() if r.prompt_id is not None}
        await self._recover(rows)
        rows = await self.journal.rows()
        todo = [j for j in jobs if rows[j.key].status == PENDING]
        self._fast = await self.fast_tunes(todo)
        await self._seed_fair_use(todo)
        self._spent = sum(r.cost_mc for r in rows.values() if r.status in SENT)
        self._budget_hit = False
        await self._dispatch(jobs, rows)
        return self._summary(jobs, await self.journal.rows())

    async def _recover(self, rows: dict[str, Row]) -> None:
        """Creates an interrupted run journaled but never saw answered: find them."""
        assert self.client is not None
        waiting = [r for r in rows.values() if r.status == CREATING]
        if self._shared is not None:  # only the ones no live worker holds (it settles them)
            taken = [await self._shared.take(r.key) for r in waiting]
            waiting = [r for r in taken if r is not None and r.status == CREATING]
        if not waiting:
            return
        youngest = max(r.creating_at or 0.0 for r in waiting)
        wait = youngest + self.settle - time.time()
        if wait > 0:  # a create of the crashed run may still be in flight at Astria
            self._emit("settling", "*", message=f"waiting {wait:.1f} s for creates of the "
                       "interrupted run to land before looking them up")
            await anyio.sleep(wait)
        # Where each was posted depends on its tune (LoRA tunes run on their base model).
        await asyncio.gather(*(self._tune(t) for t in sorted({r.tune_id for r in waiting})))
        found = await recover(self.client, waiting, skew=self.skew, route=self.recovery_route,
                              claimed=self._claimed)
        self._looked.update(found)
        for key, prompt in found.items():
            await self._settled(key, prompt)

    async def _settled(self, key: str, prompt: Prompt | AstriaError | None) -> int | None:
        if isinstance(prompt, AstriaError):  # stays "creating": never a blind re-send
            message = f"lookup failed ({prompt}); not re-sent, looked up again next run"
            await self.journal.note(key, message)
            self._emit("lookup_failed", key, message=message)
            return None
        if prompt is None:
            await self.journal.unsent(key, "the create never reached Astria")
            self._emit("resend", key)
            return None
        await self.journal.created(key, prompt.id, prompt.cost_mc)
        self._emit("recovered", key, prompt_id=prompt.id)
        return prompt.id

    async def _dispatch(self, jobs: Sequence[Job], rows: dict[str, Row]) -> None:
        try:
            await self._dispatch_all(jobs, rows)
        except Exception as exc:  # a task group wraps the error that stopped the run
            found = _astria_error(exc)
            if found is None:
                raise
            raise found from None

    async def _dispatch_all(self, jobs: Sequence[Job], rows: dict[str, Row]) -> None:
        size = self.in_flight()
        slots = anyio.Semaphore(size)
        self._handed, self._ended = [], anyio.Event()
        async with anyio.create_task_group() as tg:
            held = await self._start_all(tg, jobs, rows, slots)
            while self._shared is not None:
                # Jobs another worker took from a task of this one are watched like the
                # held ones: this worker's summary must not show them unfinished.
                held += [job for job in self._handed if job not in held]
                self._handed, self._ended = [], anyio.Event()
                if not held:
                    if slots.value == size:  # no task of this worker runs any more
                        break
                    await self._ended.wait()  # a task ended: it may have handed a job on
                    continue
                # Held by live workers: wait for them to finish, or to die and free them. One
                # read for all of them; only the free ones are taken (in file order).
                await anyio.sleep(self._shared.retry_after)
                still, free = await self._shared.held([job.key for job in held])
                ready = set(free)
                again = await self._start_all(tg, [j for j in held if j.key in ready], {},
                                              slots, again=True)
                waiting = set(still) | {job.key for job in again}
                held = [job for job in held if job.key in waiting]

    async def _start_all(self, tg: anyio.abc.TaskGroup, jobs: Sequence[Job],
                         rows: dict[str, Row], slots: anyio.Semaphore, *,
                         again: bool = False) -> list[Job]:
        """Start every job this worker may run; returns those another live worker holds.

        `again`: the jobs were just found free (`SharedJournal.held`): taken without a look.
        """
        held: list[Job] = []
        free: dict[str, bool] = {}  # peeked at: free to take, or held (absent: finished)
        peeked: set[str] = set()
        for index, job in enumerate(jobs):
            known = rows.get(job.key)
            if self._shared is not None and (known is None or known.status not in (DONE, FAILED)):
                if not again and job.key not in peeked:
                    ahead = [j.key for j in jobs[index:index + _PEEK]]
                    still, ready = await self._shared.held(ahead)
                    peeked.update(ahead)
                    free.update(dict.fromkeys(still, False) | dict.fromkeys(ready, True))
                if not again and job.key not in free:
                    continue  # finished by another worker since the run began
                taken = await self._shared.take(job.key) if again or free[job.key] else None
                if taken is None:
                    if not again:
                        self._emit("held", job, message="another worker holds it")
                    held.append(job)
                    continue
                if taken.status == CREATING and taken.key not in self._looked:
                    # Its worker died after journaling the create: look it up, never re-send.
                    self._looked.add(taken.key)
                    await slots.acquire()
                    tg.start_soon(self._taken_over, job, taken, slots)
                    continue
                row = taken
            else:
                row = rows[job.key]
            if row.status in (DONE, FAILED, CREATING):
                continue  # CREATING here: its lookup could not be made this run
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
        return held

    async def _taken_over(self, job: Job, row: Row, slots: anyio.Semaphore) -> None:
        """A job whose worker died between its "creating" mark and the answer."""
        try:
            await self._tune(job.tune_id)  # where it was posted (see `recovery_route`)
            found = await self._reconcile(job.key, row.creating_at or 0.0)
            if found is None:  # provably never reached Astria: it is pending again
                cost = self.prices.job_cost(job, self._fast)
                self._spent += cost
                async with self._tune_places(job):
                    found = await self._create(job, cost)
            if found is not False:
                await self._finish(job, found)
        finally:
            self._release(slots)

    async def _job(self, job: Job, row: Row, cost: int, slots: anyio.Semaphore) -> None:
        try:
            if row.status != PENDING:
                await self._finish(job, row.prompt_id)
                return
            async with self._tune_places(job):
                await self._finish(job, await self._create(job, cost))
        finally:
            self._release(slots)

    def _release(self, slots: anyio.Semaphore) -> None:
        slots.release()
        self._ended.set()

    async def _finish(self, job: Job, prompt_id: int | None) -> None:
        if prompt_id is None:
            return
        prompt = await self._wait(job, prompt_id)
        if prompt is not None:
            await self._download(job, prompt)

    async def _create(self, job: Job, cost: int) -> int | None:
        assert self._marks is not None
        for _ in range(_ATTEMPTS):
            try:
                at = await self._marks.mark(job.key, cost)
            except StateLockedError as exc:  # a shared journal: another worker took it over
                self._spent -= cost
                self._emit("held", job, message=str(exc))
                self._handed.append(job)  # watched until that worker finishes it (or dies)
                return None
            try:
                prompt = await self.post(job)
            except _FATAL as exc:  # refused before anything was made: pending, not creating
                await self.journal.unsent(job.key, str(exc))
                raise
            except AstriaError as exc:
                if maybe_processed(exc):  # it may exist: settle, look it up, go on
                    await self.journal.note(job.key, str(exc))
                    self._emit("creating", job, message=f"{exc}; looking it up")
                    found = await self._reconcile(job.key, at)
                    if found is None:
                        continue  # provably not there: send it again, once
                    return None if found is False else found
                self._spent -= cost
                if _transient(exc):
                    await self.journal.unsent(job.key, str(exc))
                    self._emit("unsent", job, message=str(exc))
                else:
                    await self.journal.failed(job.key, str(exc), 0)
                    self._emit("refused", job, message=str(exc))
                return None
            actual = prompt.cost_mc
            if actual is not None:
                self._spent += actual - cost
            await self.journal.created(job.key, prompt.id, actual)
            self._claimed.add(prompt.id)
            self._emit("created", job, prompt_id=prompt.id)
            return prompt.id
        return None

    async def _reconcile(self, key: str, at: float) -> int | bool | None:
        """Look up one unanswered create after it settled: its prompt id, False when it could
        not be looked up (it stays creating), or None when it never reached Astria."""
        assert self.client is not None
        await anyio.sleep(max(0.0, at + self.settle - time.time()))
        async with self._lookups:  # one at a time: twins must not claim one prompt
            rows = await self.journal.rows()
            # Other workers of a shared journal tie prompts to jobs meanwhile.
            self._claimed.update(r.prompt_id for r in rows.values() if r.prompt_id is not None)
            row = rows[key]
            if row.status != CREATING:
                # A shared journal: the worker that lost this job got its answer meanwhile
                # (its prompt is claimed now, so a lookup would wrongly find nothing).
                return row.prompt_id if row.status == CREATED and row.prompt_id else False
            found = await recover(self.client, [row], skew=self.skew,
                                  route=self.recovery_route,
                                  claimed=self._claimed)
            prompt_id = await self._settled(key, found[key])
        if prompt_id is not None:
            return prompt_id
        return None if found[key] is None else False

    async def _wait(self, job: Job, prompt_id: int) -> Prompt | None:
        assert self.client is not None
        try:
            prompt = await self.client.prompts.wait_images(prompt_id, timeout=self.timeout)
        except PromptFailedError as exc:
            await self.journal.failed(job.key, str(exc.prompt.user_error))
            self._emit("failed", job, prompt_id=prompt_id, message=str(exc.prompt.user_error))
            return None
        except NotFoundError:
            await self.journal.failed(job.key, "the prompt no longer exists")
            self._emit("failed", job, prompt_id=prompt_id, message="deleted on the server")
            return None
        except _FATAL:
            raise
        except AstriaError as exc:  # a timeout or outage: the next run resumes the wait
            await self.journal.note(job.key, str(exc))
            self._emit("stalled", job, prompt_id=prompt_id, message=str(exc))
            return None
        if not prompt.images:
            message = prompt.user_error or "finished without images"
            await self.journal.failed(job.key, message)
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
                await self.journal.note(job.key, f"download: {exc}")
                self._emit("stalled", job, prompt_id=prompt.id, message=str(exc))
                return
        await self.journal.done(job.key, count, prompt.cost_mc)
        self._emit("downloaded", job, prompt_id=prompt.id, images=count)

    def _summary(self, jobs: Sequence[Job], rows: dict[str, Row]) -> BatchSummary:
        results = []
        for job in jobs:
            row = rows[job.key]
            folder = self.out_dir / job.dirname if self.out_dir and row.status == DONE else None
            if folder is not None and not folder.is_dir():
                folder = None  # e.g. finished under an older version's `{line}-{digest}` key
            results.append(JobResult(key=job.key, line=job.line, tune_id=job.tune_id,
                                     status=row.status, prompt_id=row.prompt_id,
                                     images=row.images, cost_mc=row.cost_mc,
                                     error=row.error, directory=folder))
        keys = {j.key for j in jobs}
        stopped = "budget" if self._budget_hit else None
        return BatchSummary(jobs=tuple(results), out_dir=self.out_dir, stopped=stopped,
                            not_in_file=tuple(k for k in rows if k not in keys))
