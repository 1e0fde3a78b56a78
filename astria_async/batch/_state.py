"""The batch journal: one SQLite row per job, committed durably before each step is taken."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from ..errors import AstriaError
from ._jobs import Job, canonical

# pending -> creating (journaled before the POST) -> created (prompt id known) -> done | failed.
PENDING, CREATING, CREATED, DONE, FAILED = "pending", "creating", "created", "done", "failed"
SENT = (CREATING, CREATED, DONE, FAILED)

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


class StateLockedError(AstriaError):
    """Another process is running a batch on this state file."""


@attrs.frozen
class Row:
    """A job as journaled."""

    key: str
    line: int
    tune_id: int
    spec: str
    status: str
    prompt_id: int | None
    creating_at: float | None
    creates: int
    cost_mc: int
    images: int
    error: str | None


class Journal:
    """Synchronous journal; WAL with synchronous=FULL so every commit is fsync'd."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock: IO[bytes] | None = None
        if readonly:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        # Used from one worker thread at a time (the runner serialises calls).
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsync'd at every commit, so "creating" is on disk before the POST.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def _take_lock(self) -> None:
        # Two runners on one journal would both create the same prompts.
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock, single-runner use is on the user
            return
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "wb")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            self._lock = None
            raise StateLockedError(f"another batch is running with state file {self.path}; "
                                   "wait for it or use another --state") from None

    def close(self) -> None:
        """Close the database and release the lock."""
        self._db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(self, jobs: Sequence[Job]) -> None:
        """Record new jobs as pending; an unsent job takes the file's spec, a sent one keeps
        the spec it was sent with (recovery matches on it)."""
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO jobs (key, line, tune_id, spec, status, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET line = excluded.line,"
                " tune_id = excluded.tune_id, spec = excluded.spec WHERE status = 'pending'",
                [(j.key, j.line, j.tune_id, canonical(j.spec), PENDING, now) for j in jobs])

    def rows(self) -> dict[str, Row]:
        """Every journaled job by key."""
        cur = self._db.execute(
            "SELECT key, line, tune_id, spec, status, prompt_id, creating_at, creates, cost_mc,"
            " images, error FROM jobs ORDER BY line, key")
        return {r[0]: Row(*r) for r in cur.fetchall()}

    def _set(self, key: str, **values: Any) -> None:
        values["updated_at"] = time.time()
        names = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as db:
            db.execute(f"UPDATE jobs SET {names} WHERE key = ?", (*values.values(), key))

    def creating(self, key: str, cost_mc: int) -> float:
        """Journal that a create is about to be sent; returns the journal time."""
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE jobs SET status = ?, creating_at = ?, creates = creates + 1, "
                       "cost_mc = ?, error = NULL, updated_at = ? WHERE key = ?",
                       (CREATING, now, cost_mc, now, key))
        return now

    def created(self, key: str, prompt_id: int, cost_mc: int | None = None) -> None:
        """The server answered the create (or the lookup found it): the prompt id is known."""
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        self._set(key, status=CREATED, prompt_id=prompt_id, error=None, **extra)

    def unsent(self, key: str, error: str) -> None:
        """The create was refused before anything was created; the job may be retried."""
        self._set(key, status=PENDING, cost_mc=0, error=error)

    def note(self, key: str, error: str) -> None:
        """Keep the state, remember why the job did not finish in this run."""
        self._set(key, error=error)

    def done(self, key: str, images: int, cost_mc: int | None = None) -> None:
        """Images are on disk."""
        extra = {} if cost_mc is None else {"cost_mc": cost_mc}
        self._set(key, status=DONE, images=images, error=None, **extra)

    def failed(self, key: str, error: str) -> None:
        """Astria finished the prompt with a user_error (final: re-sending would pay again)."""
        self._set(key, status=FAILED, error=error)


def exists(path: str | Path) -> bool:
    """True if a journal file is there (dry runs read it without creating one)."""
    return os.path.isfile(path)
