"""`astria batch run|status`: resumable prompt batches from a JSONL file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._config import BATCH_CONCURRENCY, BATCH_SETTLE
from ._progress import Progress
from ._root import State, cli_terms, json_option, state

if TYPE_CHECKING:
    from .._client import AstriaClient
    from ..batch import BatchEvent, BatchPlan, BatchRunner, BatchSummary
    from ..waiting.policy import FairUsePolicy
    from ._output import Output

FAILED_SHOWN = 20  # failed jobs listed under the summary table; --json lists them all
REASON_SHOWN = 120  # characters of a refusal reason in the grouped list


def dollars(mc: int) -> str:
    """Milli-cents as money (1,000 mc = $0.01)."""
    return f"{mc:,} mc (${mc / 100_000:,.2f})"


# Routed lines a dry run prints before it summarises the rest.
ROUTED_SHOWN = 20


def _default_state(jobs: Path) -> Path:
    return jobs.with_name(jobs.stem + ".state.db")


def show_plan(out: Output, plan: BatchPlan) -> None:
    """The dry run's answer."""
    lines = [f"{plan.total} job(s): {plan.to_create} to create, {plan.to_resume} to resume, "
             f"{plan.done} done, {plan.failed} failed",
             f"estimated cost of the prompts to create: {dollars(plan.estimated_mc)}"]
    if plan.spent_mc:
        lines.append(f"already spent by this state file: {dollars(plan.spent_mc)}")
    if plan.not_in_file:
        lines.append(f"{plan.not_in_file} journaled job(s) not in the job file (left as they are)")
    if plan.routed:
        lines.append(f"{len(plan.routed)} job(s) run on a base model (LoRA/FaceID tunes):")
        lines += [f"  {line}" for line in plan.routed[:ROUTED_SHOWN]]
        if len(plan.routed) > ROUTED_SHOWN:
            lines.append(f"  … and {len(plan.routed) - ROUTED_SHOWN} more (--json lists all)")
    if plan.max_cost is not None:
        fit = "all fit" if plan.fits == plan.to_create else f"only {plan.fits} fit"
        lines.append(f"--max-cost {plan.max_cost:,} mc: {fit}")
    out.result(plan.to_dict(), text="\n".join(lines))


def show_summary(out: Output, summary: BatchSummary) -> None:
    """The table at the end of a run (or its JSON)."""
    if out.json:
        out.emit(summary.to_dict())
        return
    counts = summary.counts
    rows: list[tuple[str, Any]] = [(status, counts[status]) for status in
            ("done", "failed", "created", "creating", "pending") if counts.get(status)]
    if summary.not_in_file:
        rows.append(("not in the job file", len(summary.not_in_file)))
    rows += [("images", summary.images), ("cost", dollars(summary.cost_mc))]
    if summary.out_dir is not None:
        rows.append(("images in", summary.out_dir))
    out.out.print(out.table(("batch", "count"), rows, title="batch summary"))
    unfinished = [j for j in summary.jobs if j.status != "done"]
    if unfinished:
        shown = unfinished[:FAILED_SHOWN]
        out.out.print(out.table(("line", "key", "status", "prompt", "error"),
                                ((j.line, j.key, j.status, j.prompt_id,
                                  j.error and cli_terms(j.error, batch=True))
                                 for j in shown), title="not done"))
        if len(unfinished) > len(shown):
            out.log(f"... and {len(unfinished) - len(shown)} more (--json lists all)")


class _Reporter:
    """Turns batch events into progress counters; repeated reasons are counted, not listed."""

    def __init__(self, progress: Progress, plan: BatchPlan, download: bool) -> None:
        # Denominators are every job of the file, resumed or not, so they stay the same
        # across runs: what earlier runs finished starts the bars.
        self.created = progress.task("created", plan.total)
        self.finished = progress.task("finished", plan.total)
        self.created.advance(plan.total - plan.to_create, note=None)
        self.finished.advance(plan.done + plan.failed, note=None)
        self.images = progress.task("download", 0) if download else None
        self.out = progress.out
        self.reasons: Counter[str] = Counter()

    def __call__(self, event: BatchEvent) -> None:
        note = f"{event.key} prompt {event.prompt_id}"
        if event.kind in ("created", "recovered"):
            self.created.advance(note=f"{note} ({event.kind})")
        elif event.kind in ("finished", "failed"):
            self.finished.advance(note=f"{note} {event.kind}"
                                  + (f": {event.message}" if event.message else ""))
        elif event.kind == "refused":
            self.created.advance(note=None)
            self.finished.advance(note=None)
            self._reason(event.kind, event.message or "")
        elif event.kind == "downloaded" and self.images is not None:
            self.images.set_total((self.images.total or 0) + event.images)
            self.images.advance(event.images, note=note)
        elif event.kind in ("unsent", "stalled", "lookup_failed", "held"):
            self._reason(event.kind, event.message or "")
        elif event.kind == "resend":
            self._reason(event.kind, "the create never reached Astria; sent again")
        elif event.kind != "downloaded":
            who = "" if event.key == "*" else f"{event.key}: "
            self.out.log(f"{event.kind}: {who}{event.message or ''}".rstrip(": "))

    def _reason(self, kind: str, message: str) -> None:
        reason = f"{kind}: {cli_terms(message, batch=True)}"[:REASON_SHOWN]
        self.reasons[reason] += 1
        if self.reasons[reason] == 1:  # the first of each reason as it happens
            self.out.log(reason)

    def grouped(self) -> None:
        """Each repeated reason once, with how many jobs it concerned."""
        for reason, count in self.reasons.most_common():
            if count > 1:
                self.out.log(f"{count} \u00d7 {reason}")


def _redis_state(arg: str | None) -> str | None:
    """The Redis URL of a `redis://…/NAME` state (checked), or None for a file."""
    if arg is None or not arg.startswith(("redis://", "rediss://")):
        return None
    from ..batch._redis_journal import parse_state

    return parse_state(arg)[0]


def _runner(client: AstriaClient | None, state_path: Path | str, out: Path | None,
            concurrency: int | None, max_cost: int | None, price_table: Path | None,
            timeout: float | None, settle: float, retry_failed: bool) -> BatchRunner:
    from ..batch import BatchRunner, PriceTable

    prices = PriceTable.load(price_table) if price_table is not None else PriceTable()
    return BatchRunner(client, state_path, out, concurrency, max_cost, prices, timeout=timeout,
                       settle=settle, retry_failed=retry_failed)


def fair_use_policy(no_fair_use: bool, cap: int | None, in_flight: int | None,
                    per_tune: int | None) -> FairUsePolicy | None:
    """The client's fair-use guard for a batch: Astria's per-tune cap bounds the work.

    In flight, a batch is bounded by the cap itself (a tune cannot have more prompts than
    that) and by `BATCH_CONCURRENCY` in all, not by the interactive defaults (8 per tune,
    64 in all) that would run a large batch in hundreds of waves.
    """
    from ..waiting.policy import FairUsePolicy

    if no_fair_use:
        if cap is not None or in_flight is not None or per_tune is not None:
            raise click.UsageError("--no-fair-use turns the guard off; --fair-use-cap, "
                                   "--in-flight and --in-flight-per-tune need it on")
        return None
    base = FairUsePolicy()
    if cap is not None:  # an agreed higher (or lower) limit: N prompts per tune in all
        base = FairUsePolicy(prompts_per_tune=cap, automatic_prompts=0)
    return FairUsePolicy(prompts_per_tune=base.prompts_per_tune,
                         automatic_prompts=base.automatic_prompts, max_images=base.max_images,
                         max_in_flight=in_flight or BATCH_CONCURRENCY,
                         max_in_flight_per_tune=per_tune or base.tune_cap,
                         exempt_fast=base.exempt_fast)


@click.group(short_help="Resumable prompt batches from a JSONL file.")
def batch() -> None:
    """Many prompts from a JSONL file, journaled so a re-run resumes without paying twice."""


@batch.command("run")
@click.argument("jobs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--state", "state_arg", metavar="PATH|URL",
              help="SQLite journal; re-run with it to resume [default: JOBS.state.db]. Or "
                   "redis://host:6379/0/NAME: one state shared by many workers (each with "
                   "its own -o); their clients then coordinate through that Redis.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("astria-images"), show_default=True,
              help="Images go to OUT/<job key>/.")
@click.option("--no-download", is_flag=True, help="Only create and wait.")
@click.option("-c", "--concurrency", type=click.IntRange(1),
              help="Jobs in flight at once [default: as many as fair use lets be in flight].")
@click.option("--retry-failed", is_flag=True, help="Send failed jobs again (refused ones, and "
              "prompts Astria failed: those are paid again).")
@click.option("--fair-use-cap", type=click.IntRange(1), metavar="N",
              help="Prompts per tune the guard allows in all (for an agreed higher limit) "
                   "[default: 14 + 7 automatic].")
@click.option("--in-flight", type=click.IntRange(1), metavar="N",
              help=f"Unfinished prompts at once in all [default: {BATCH_CONCURRENCY}].")
@click.option("--in-flight-per-tune", type=click.IntRange(1), metavar="N",
              help="Unfinished prompts at once per tune [default: the fair-use cap].")
@click.option("--no-fair-use", is_flag=True, help="Turn the fair-use guard off.")
@click.option("--max-cost", type=click.IntRange(0), metavar="MC",
              help="Stop before the state file's spend would exceed this many milli-cents.")
@click.option("--price-table", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='JSON: {"per_image_mc": 3000, "per_prompt_mc": 0, "tunes": {"ID": mc}, '
                   '"free_tunes": [ID], "default_num_images": 4}.')
@click.option("--timeout", type=float, help="Seconds each wait may take (resumes on re-run).")
@click.option("--recover-after", type=click.FloatRange(0), default=BATCH_SETTLE, show_default=True,
              metavar="SECONDS", help="How long an unanswered create (a crash, a 504, a cut-off "
              "answer) may take to land at Astria before it is looked up (and re-sent if "
              "absent).")
@click.option("--dry-run", is_flag=True, help="Validate, count and estimate; send nothing.")
@json_option
@click.pass_context
def run_batch(ctx: click.Context, jobs: Path, state_arg: str | None, out: Path,
              no_download: bool, concurrency: int | None, retry_failed: bool,
              fair_use_cap: int | None, in_flight: int | None, in_flight_per_tune: int | None,
              no_fair_use: bool, max_cost: int | None, price_table: Path | None,
              timeout: float | None, recover_after: float, dry_run: bool) -> None:
    """Create, wait for and download every prompt of JOBS (one JSON object per line).

    \b
    Each line: {"tune_id": 123, "text": "...", "num_images": 4, "key": "optional-name"}
    plus any prompt parameter. Every line is checked before anything is sent.
    """
    import asyncio

    from ..batch import BatchBudgetError, JobFileError, load_jobs

    st = state(ctx)
    shared = _redis_state(state_arg)
    state_path: Path | str = (
        state_arg if shared and state_arg else Path(state_arg or _default_state(jobs)))
    if isinstance(state_path, Path) and state_path.is_dir():
        raise click.BadParameter(f"{state_path} is a directory", param_hint="'--state'")
    if isinstance(state_path, Path) and state_path.resolve() == jobs.resolve():
        raise click.ClickException(f"--state {state_path} is the job file itself; the state "
                                   "file is a separate journal (default: JOBS.state.db)")
    policy = fair_use_policy(no_fair_use, fair_use_cap, in_flight, in_flight_per_tune)
    # A shared state makes the client coordinate through the same Redis (fair use, pause).
    client_kw: dict[str, Any] = {"fair_use": policy}
    if shared:
        client_kw["coordination"] = shared
    try:
        job_list = load_jobs(jobs)
    except JobFileError as exc:
        for error in exc.errors:
            st.out.log(f"{jobs}:{error.line}: {error.message}")
        if st.out.json:
            st.out.emit({"ok": False, "errors": [
                {"line": e.line, "field": e.field, "message": e.message} for e in exc.errors]})
        raise click.ClickException(f"{len(exc.errors)} invalid line(s) in {jobs}; "
                                   "nothing was sent") from None
    folder = None if no_download else out
    args = (state_path, folder, concurrency, max_cost, price_table, timeout, recover_after,
            retry_failed)

    if dry_run:
        async def plan() -> BatchPlan:
            if not st.has_key():  # offline: no tune look-ups, fast tunes are not known
                return await _runner(None, *args).plan(job_list)
            async with st.client(**client_kw) as client:
                return await _runner(client, *args).plan(job_list)

        show_plan(st.out, asyncio.run(plan()))
        return

    reporters: list[_Reporter] = []

    async def go(client: AstriaClient) -> BatchSummary:
        runner = _runner(client, *args)
        the_plan = await runner.plan(job_list)
        with Progress(st.out) as progress:
            reporters.append(_Reporter(progress, the_plan, folder is not None))
            runner.on_event = reporters[0]
            try:
                return await runner.run(job_list)
            finally:
                reporters[0].grouped()

    try:
        summary = st.run(go, **client_kw)
    except BatchBudgetError as exc:
        show_summary(st.out, exc.summary)
        raise
    show_summary(st.out, summary)
    if not summary.ok:
        ctx.exit(1)


@batch.command("status")
@click.argument("state_arg", metavar="STATE")
@json_option
@click.pass_context
def status(ctx: click.Context, state_arg: str) -> None:
    """Show what a state file (or a redis://… state) has journaled (sends nothing to Astria).

    A Redis state also lists its workers, live or gone (a lapsed lease).
    """
    from ..batch import read_status

    st = state(ctx)
    shared = _redis_state(state_arg)
    if shared:
        _shared_status(st, state_arg, shared)
        return
    state_path = click.Path(exists=True, dir_okay=False, path_type=Path).convert(
        state_arg, None, ctx)
    found = read_status(state_path)
    table = st.out.table(("status", "jobs"),
                         [*found.counts.items(), ("cost", dollars(found.cost_mc))],
                         title=str(state_path))
    st.out.result(found.to_dict(), table=table)


def _shared_status(st: State, url: str, base: str) -> None:
    import asyncio

    from ..batch import StateStatus, status_of
    from ..batch._redis_journal import batch_journal

    async def read() -> tuple[StateStatus, list[Any]]:
        async with st.client(coordination=base) as client:
            journal = batch_journal(client, url)
            return status_of(url, await journal.rows()), await journal.workers()

    found, workers = asyncio.run(read())
    data = {**found.to_dict(), "workers": [
        {"id": w.id, "description": w.description, "alive": w.alive} for w in workers]}
    table = st.out.table(
        ("status", "jobs"),
        [*found.counts.items(), ("cost", dollars(found.cost_mc)),
         *((f"worker {w.id}", f"{'live' if w.alive else 'gone'}: {w.description}")
           for w in workers)], title=url)
    st.out.result(data, table=table)
