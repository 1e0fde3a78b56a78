"""The SQLite journal: locking by the file itself, clear errors, migration, group commit."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from astria_async.batch import (
    Journal,
    Mark,
    SqliteJournal,
    StateFileError,
    StateLockedError,
    job_from_spec,
    parse_jobs,
    read_status,
)
from astria_async.batch._group import GroupCommit
from astria_async.batch._jobs import canonical


async def claimed(path: Path) -> SqliteJournal:
    journal = SqliteJournal(path)
    await journal.claim()
    return journal


def test_sqlite_journal_is_a_journal() -> None:
    journal: Journal = SqliteJournal("unused.db")  # mypy checks the protocol
    assert journal is not None


async def test_a_symlink_alias_is_the_same_lock(tmp_path: Path) -> None:
    real = tmp_path / "state.db"
    first = await claimed(real)
    (tmp_path / "alias.db").symlink_to(real)
    with pytest.raises(StateLockedError) as info:
        await claimed(tmp_path / "alias.db")
    assert info.value.holder is not None and f"pid {os.getpid()}" in info.value.holder
    await first.close()
    await (await claimed(tmp_path / "alias.db")).close()  # free again


async def test_a_hard_linked_state_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "state.db"
    await (await claimed(real)).close()
    os.link(real, tmp_path / "link.db")
    for path in (real, tmp_path / "link.db"):
        with pytest.raises(StateFileError, match="has 2 hard links"):
            await claimed(path)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty, not a batch state file"),
    (b'{"tune_id": 1, "text": "a"}\n', "not a batch state file"),
    (b"SQLite format 3\x00" + b"\x00" * 40, "not a batch state file"),
])
async def test_files_that_are_not_journals_are_refused_and_kept(
        tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=message):
        await claimed(path)
    with pytest.raises(StateFileError, match=message):
        read_status(path)
    assert path.read_bytes() == content


async def test_other_sqlite_files_and_folders_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StateFileError, match="not a batch state file"):
        await claimed(other)
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE meta (name TEXT, value TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StateFileError, match="not a batch state file"):
        read_status(other)
    with pytest.raises(StateFileError, match="is a directory"):
        await claimed(tmp_path)
    with pytest.raises(StateFileError, match="no such file"):
        read_status(tmp_path / "missing.db")


async def test_a_full_disk_is_one_clear_error(tmp_path: Path) -> None:
    journal = await claimed(tmp_path / "s.db")
    jobs = parse_jobs([json.dumps({"tune_id": 1, "text": "a"})])
    await journal.add(jobs)

    def full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StateFileError, match="the disk is full"):
        await journal._io(full)
    await journal.close()


async def test_old_line_keys_are_migrated_without_a_request(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    journal = await claimed(path)
    await journal.close()
    spec = {"tune_id": 7, "text": "a cat", "callback": "https://h.example/cb?secret=s3cr3t"}
    text = canonical(spec)
    old = "3-" + hashlib.sha256(text.encode()).hexdigest()[:10]
    db = sqlite3.connect(path)
    db.execute("INSERT INTO jobs (key, line, tune_id, spec, status, prompt_id, updated_at) "
               "VALUES (?, 3, 7, ?, 'done', 11, 0)", (old, text))
    db.execute("INSERT INTO jobs (key, line, tune_id, spec, status, updated_at) "
               "VALUES ('4-notadigest', 4, 7, ?, 'done', 0)", (text,))
    db.commit()
    db.close()
    journal = await claimed(path)
    moved = job_from_spec(spec, line=1)  # the file changed: the job is on line 1 now
    await journal.add([moved])
    rows = await journal.rows()
    await journal.close()
    assert rows[moved.key].status == "done" and rows[moved.key].prompt_id == 11
    assert "s3cr3t" not in rows[moved.key].spec  # and the secret is gone from the file
    assert "4-notadigest" in rows  # an explicit key that looks like one is left alone
    assert len(rows) == 2


async def test_group_commit_writes_waiting_marks_together() -> None:
    groups: list[list[str]] = []
    gate = asyncio.Event()

    async def write(marks: Sequence[Mark]) -> float:
        groups.append([m.key for m in marks])
        if len(groups) == 1:
            await gate.wait()
        return float(len(groups))

    commit = GroupCommit(write)
    tasks = [asyncio.create_task(commit.mark(k, 0)) for k in "abcd"]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*tasks) == [1.0, 2.0, 2.0, 2.0]
    assert groups == [["a"], ["b", "c", "d"]] and commit.groups == 2


async def test_group_commit_failure_reaches_every_job_of_the_group() -> None:
    gate = asyncio.Event()
    calls = 0

    async def write(marks: Sequence[Mark]) -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            await gate.wait()
            return 1.0
        raise StateFileError("disk full")

    commit = GroupCommit(write)
    tasks = [asyncio.create_task(commit.mark(k, 0)) for k in "abc"]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == 1.0
    assert all(isinstance(r, StateFileError) for r in results[1:])


async def test_group_commit_cancelled_writer_hands_the_others_on() -> None:
    seen: list[list[str]] = []
    second_started = asyncio.Event()

    async def write(marks: Sequence[Mark]) -> float:
        seen.append([m.key for m in marks])
        if len(seen) == 1:
            await asyncio.sleep(0.01)
        if len(seen) == 2:
            second_started.set()
            await asyncio.sleep(10)  # cancelled
        return float(len(seen))

    commit = GroupCommit(write)
    first = asyncio.create_task(commit.mark("a", 0))
    await asyncio.sleep(0)  # "a" writes alone; b and c wait for it
    lead = asyncio.create_task(commit.mark("b", 0))
    other = asyncio.create_task(commit.mark("c", 0))
    assert await first == 1.0
    await second_started.wait()
    lead.cancel()  # "b" was writing the group of b and c
    assert await other == 3.0
    assert seen == [["a"], ["b", "c"], ["c"]]
    with pytest.raises(asyncio.CancelledError):
        await lead


async def test_runs_racing_at_start_up_one_wins_the_others_are_told(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    journals = [SqliteJournal(path) for _ in range(8)]
    results = await asyncio.gather(*(j.claim() for j in journals), return_exceptions=True)
    try:
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, StateLockedError) for r in results if r is not None)
    finally:
        for journal in journals:
            await journal.close()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no temp files left


async def test_sqlite_journal_keeps_the_journal_contract(tmp_path: Path) -> None:
    from _journal_contract import check_journal

    await check_journal(lambda: SqliteJournal(tmp_path / "contract.db"))
