"""The `Journal` contract as one coroutine: any implementation's tests can run it.

    from _journal_contract import check_journal
    await check_journal(lambda: RedisJournal(url, "state-key"))

`make()` must return a fresh handle on one and the same empty store each time it is called.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from astria_async.batch import (
    Journal,
    Mark,
    MarkRefused,
    SharedJournal,
    StateLockedError,
    job_from_spec,
)


async def _shared_rules(journal: SharedJournal, other: SharedJournal, keys: list[str]) -> None:
    """Workers of a shared journal: each job is held by one; a held job is neither taken nor
    marked by another, and a worker's writes to a job it does not hold are dropped."""
    for key in keys:
        assert (await journal.take(key)) is not None
    await other.claim()
    try:
        assert await other.take(keys[0]) is None
        with pytest.raises(MarkRefused) as refused:
            await other.creating([Mark(keys[0], 1)])
        assert set(refused.value.refused) == {keys[0]}
        assert isinstance(refused.value.refused[keys[0]], StateLockedError)
        await other.failed(keys[0], "not mine")
        assert (await other.rows())[keys[0]].status == "pending"
    finally:
        await other.close()


async def check_journal(make: Callable[[], Journal]) -> None:
    """Claims exclude each other (a `SharedJournal`: jobs are held by one worker each);
    every step keeps the field rules of `Journal`."""
    jobs = [job_from_spec({"tune_id": 1, "text": t}, line=i + 1)
            for i, t in enumerate(("a", "b", "c", "d"))]
    a, b, c, d = (j.key for j in jobs)
    journal = make()
    await journal.claim()
    try:
        shared = isinstance(journal, SharedJournal)
        if not shared:
            with pytest.raises(StateLockedError):
                await make().claim()
        await journal.add(jobs)
        rows = await journal.rows()
        assert set(rows) == {a, b, c, d}
        assert all(r.status == "pending" and r.creates == 0 for r in rows.values())
        if isinstance(journal, SharedJournal):
            other = make()
            assert isinstance(other, SharedJournal)
            await _shared_rules(journal, other, [a, b, c, d])
        at = await journal.creating([Mark(a, 3000), Mark(b, 3000), Mark(c, 3000)])
        rows = await journal.rows()
        assert {rows[k].status for k in (a, b, c)} == {"creating"}
        assert rows[a].creating_at == at and rows[a].cost_mc == 3000 and rows[a].creates == 1
        await journal.note(a, "a 504")
        rows = await journal.rows()
        assert rows[a].status == "creating" and rows[a].error == "a 504"
        await journal.created(a, 42, None)
        await journal.done(a, 4, 2500)
        await journal.unsent(b, "connection refused")
        await journal.failed(c, "refused", 0)
        rows = await journal.rows()
        assert (rows[a].status, rows[a].prompt_id, rows[a].images, rows[a].cost_mc,
                rows[a].error) == ("done", 42, 4, 2500, None)
        assert (rows[b].status, rows[b].cost_mc, rows[b].error) == (
            "pending", 0, "connection refused")
        assert (rows[c].status, rows[c].cost_mc, rows[c].error) == ("failed", 0, "refused")
        # Re-adding: lines move, a sent job keeps its spec, a pending one takes the new one.
        edited = [job_from_spec({"tune_id": 1, "text": t, "key": k}, line=9)
                  for t, k in (("a2", a), ("b2", b))]
        await journal.add(edited)
        rows = await journal.rows()
        assert rows[a].line == 9 and json.loads(rows[a].spec)["text"] == "a"
        assert json.loads(rows[b].spec)["text"] == "b2"
        await journal.add(jobs, retry_failed=True)
        rows = await journal.rows()
        assert (rows[c].status, rows[c].error) == ("pending", None)
        assert rows[a].status == "done" and rows[d].status == "pending"
    finally:
        await journal.close()
        await journal.close()  # idempotent
    again = make()  # released: another run may claim it, and sees everything
    await again.claim()
    try:
        assert (await again.rows())[a].prompt_id == 42
    finally:
        await again.close()
