"""The default journal: one SQLite file, locked by its inode, "creating" marks fsync'd in groups."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ._jobs import Job, canonical, identity, journal_spec, legacy_key_digest
from ._journal import (
    CREATED,
    CREATING,
    DONE,
    FAILED,
    PENDING,
    SENT,
    Mark,
    Row,
    StateFileError,
    StateLockedError,
)

__all__ = ["CREATED", "CREATING", "DONE", "FAILED", "PENDING", "SENT", "SqliteJournal",
           "read_rows"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    tune_id INTEGER NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    prompt_id INTEGER,
    creating_at REAL,
    creates INTEGER NOT NULL DEFAULT 0,
    cost_mc INTEGER NOT NULL DEFAULT 0,
    images INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema', '1');
"""
_COLUMNS = ("key, line, tune_id, spec, status, prompt_id, creating_at, creates, cost_mc, "
            "images, error")


def _describe(path: Path, exc: BaseException) -> StateFileError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        text = "not a batch state file (or it is damaged)"
    elif "full" in text:
        text = "the disk is full; nothing more was journaled"
    return StateFileError(f"state file {path}: {text}")


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    else:  # used from one worker thread at a time (SqliteJournal serialises calls)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        found = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    except sqlite3.Error as exc:
        db.close()
        if "no such table" in str(exc):
            raise StateFileError(f"state file {path}: an SQLite file, but not a batch state "
                                 "file") from None
        raise _describe(path, exc) from None
    if found is None:
        db.close()
        raise StateFileError(f"state file {path}: not a batch state file") from None
    return db


def read_rows(path: str | Path) -> dict[str, Row]:
    """Every job a state file has journaled, read without changing it or taking its lock.

    Raises:
        StateFileError: missing, empty, not a batch state file, or unreadable.
    """
    real = Path(path).resolve()
    if not real.is_file():
        raise StateFileError(f"state file {path}: no such file")
    if real.stat().st_size == 0:
        raise StateFileError(f"state file {path}: empty, not a batch state file")
    try:
        db = _connect(real, readonly=True)
        try:
            return _rows(db)
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise _describe(Path(path), exc) from None


def _rows(db: sqlite3.Connection) -> dict[str, Row]:
    cur = db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY line, key")
    return {r[0]: Row(*r) for r in cur.fetchall()}


def _create(path: Path) -> None:
    """Make a fresh journal at `path` atomically: never a half-made or empty file there."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):  # another run made it first: use theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class SqliteJournal:
    """The `Journal` in one SQLite file (WAL).

    Locking: `claim` takes an exclusive `flock` on the database file itself, so any two runs
    on one file exclude each other whatever path reached it (a symlink is resolved first; a
    file with several hard links is refused, since SQLite keeps its write-ahead log beside the
    name used and another name would not see it after a crash). The holder's pid and host are
    journaled, and a second run names them.

    Durability: `creating` commits with `synchronous=FULL` (one fsync for the whole group);
    other writes commit with `synchronous=NORMAL` (no fsync; the next `creating` or checkpoint
    makes them durable). See `Journal` for why that is safe.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.durable_commits = 0  # fsync'd commits (benchmarks report them per job)
        self._db: sqlite3.Connection | None = None
        self._fd: int | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        # SQLite commits fsync: off the event loop, one at a time, in order.
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="astria-batch")
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._guard,
                                                                fn, *args)

    def _guard(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise _describe(self.path, exc) from None

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "the journal is not claimed"
        return self._db

    async def claim(self) -> None:
        await self._io(self._claim)

    def _claim(self) -> None:
        real = self.path.resolve()
        if real.is_dir():
            raise StateFileError(f"state file {self.path}: is a directory")
        real.parent.mkdir(parents=True, exist_ok=True)
        if not real.exists():
            _create(real)
        fd = os.open(real, os.O_RDWR)
        try:
            info = os.fstat(fd)
            if info.st_size == 0:
                raise StateFileError(f"state file {self.path}: empty, not a batch state file "
                                     "(remove it to start a new batch)")
            if info.st_nlink > 1:
                raise StateFileError(
                    f"state file {self.path}: has {info.st_nlink} hard links; a journal must "
                    "have one name (remove the other links, or copy it)")
            self._lock(fd, real)
            self._db = _connect(real, readonly=False)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        owner = f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}"
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('owner', ?)", (owner,))

    def _lock(self, fd: int, real: Path) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = None
            with contextlib.suppress(sqlite3.Error, StateFileError):
                db = _connect(real, readonly=True)
                try:
                    row = db.execute("SELECT value FROM meta WHERE name = 'owner'").fetchone()
                    holder = row[0] if row else None
                finally:
                    db.close()
            who = holder or "another process"
            raise StateLockedError(f"state file {self.path} is in use by {who}; wait for that "
                                   "run to end, or use another --state", holder) from None

    async def close(self) -> None:
        if self._fd is not None or self._db is not None:
            await self._io(self._close)
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _close(self) -> None:
        # SQLite's own POSIX locks drop when any descriptor of the file closes: the
        # database goes first, the flock'd descriptor last.
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("DELETE FROM meta WHERE name = 'owner'")
            self._db.close()
            self._db = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextlib.contextmanager
    def _tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        db = self.db
        if durable:
            db.execute("PRAGMA synchronous=FULL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            if durable:
                db.execute("PRAGMA synchronous=NORMAL")
        if durable:
            self.durable_commits += 1

    async def add(self, jobs: Sequence[Job], *, retry_failed: bool = False) -> None:
        await self._io(self._add, list(jobs), retry_failed)

    def _add(self, jobs: list[Job], retry_failed: bool) -> None:
        now = time.time()
        with self._tx(durable=True) as db:
            self._migrate(db)
            db.executemany(
                "INSERT INTO jobs (key, line, tune_id, spec, status, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET line = excluded.line,"
                " tune_id = CASE WHEN status = 'pending' THEN excluded.tune_id ELSE tune_id END,"
                " spec = CASE WHEN status = 'pending' THEN excluded.spec ELSE spec END",
                [(j.key, j.line, j.tune_id, canonical(j.spec), PENDING, now) for j in jobs])
            if retry_failed:
                db.executemany("UPDATE jobs SET status = 'pending', error = NULL, cost_mc = 0,"
                               " spec = ?, tune_id = ?, updated_at = ? "
                               "WHERE key = ? AND status = 'failed'",
                               [(canonical(j.spec), j.tune_id, now, j.key) for j in jobs])

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        # Older versions keyed jobs without a "key" by `{line}-{digest}`: editing the file
        # moved them. Rename such rows to the line-free identity (no request is made).
        rows = db.execute("SELECT key, spec FROM jobs WHERE key GLOB '[0-9]*-*'").fetchall()
        for key, spec in rows:
            if legacy_key_digest(key, spec):
                stored = journal_spec(json.loads(spec))  # older files kept callback secrets
                new = identity(stored)
                if db.execute("SELECT 1 FROM jobs WHERE key = ?", (new,)).fetchone() is None:
                    db.execute("UPDATE jobs SET key = ?, spec = ? WHERE key = ?",
                               (new, canonical(stored), key))

    async def rows(self) -> dict[str, Row]:
        return await self._io(_rows, self.db)

    async def creating(self, marks: Sequence[Mark]) -> float:
        return await self._io(self._creating, list(marks))

    def _creating(self, marks: list[Mark]) -> float:
        now = time.time()
        with self._tx(durable=True) as db:
            db.executemany("UPDATE jobs SET status = ?, creating_at = ?, creates = creates + 1,"
                           " cost_mc = ?, error = NULL, updated_at = ? WHERE key = ?",
                           [(CREATING, now, m.cost_mc, now, m.key) for m in marks])
        return now

    def _set(self, key: str, **values: Any) -> None:
        values["updated_at"] = time.time()
        names = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {names} WHERE key = ?", (*values.values(), key))

    async def created(self, key: str, prompt_id: int, cost_mc: int | None = None) -> None:
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        await self._io(lambda: self._set(key, status=CREATED, prompt_id=prompt_id,
                                         error=None, **extra))

    async def unsent(self, key: str, error: str) -> None:
        await self._io(lambda: self._set(key, status=PENDING, cost_mc=0, error=error))

    async def note(self, key: str, error: str) -> None:
        await self._io(lambda: self._set(key, error=error))

    async def done(self, key: str, images: int, cost_mc: int | None = None) -> None:
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        await self._io(lambda: self._set(key, status=DONE, images=images, error=None, **extra))

    async def failed(self, key: str, error: str, cost_mc: int | None = None) -> None:
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        await self._io(lambda: self._set(key, status=FAILED, error=error, **extra))
