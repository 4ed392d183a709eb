"""The embedded state store: one SQLite database (WAL mode) shared by an instance's workers.

SQLite's WAL lets readers run beside one writer across the processes of one host (never on a
network filesystem). Every read-then-write runs in ``BEGIN IMMEDIATE``: a deferred transaction
that reads and then writes can fail with SQLITE_BUSY_SNAPSHOT, which the busy timeout does not
retry. Connections are opened per thread and per process, after gunicorn forks: a connection
must never cross a fork.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from .store import (
    AttemptSuperseded,
    Claim,
    Hit,
    IdempotencyRecord,
    Refused,
    StateUnavailable,
    decide_claim,
    held_by,
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters "
    "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS idempotency "
    "(key TEXT PRIMARY KEY, record TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS locks "
    "(key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS names "
    "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL)",
)
# A name kept for good expires in 9999 (the sweep compares times: no NULL to special-case).
_FOR_GOOD = 253402300799.0
_OPEN_WINDOW = "SELECT count, expires_at FROM counters WHERE key = ? AND expires_at > ?"
# Ended windows and expired records are deleted every so many writes, not on every one.
_SWEEP_EVERY = 500
# How long a writer waits for another one: longer than any write takes, short enough that a
# stuck database turns into a 503 well within a caller's timeout.
BUSY_TIMEOUT_S = 5.0
_FIRST_CONNECTIONS = threading.Lock()


class EmbeddedStore:
    """A StateStore in the SQLite file ``path``."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._local = threading.local()
        self._writes = 0
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise StateUnavailable(f"The state database cannot be created in {directory}.") from exc

    # counters

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._clock()
        with self._transaction(write=True) as db:
            return self._add(db, key, expiry, amount, now)

    def hit_all(self, hits: Sequence[Hit]) -> Refused | None:
        now = self._clock()
        # BEGIN IMMEDIATE: no other worker counts between the reads and the writes.
        with self._transaction(write=True) as db:
            full = [
                Refused(hit, row[1] - now)
                for hit in hits
                if (row := db.execute(_OPEN_WINDOW, (hit.key, now)).fetchone())
                and row[0] >= hit.limit
            ]
            if full:
                return max(full, key=lambda refused: refused.retry_after)
            for hit in hits:
                if hit.counts:
                    self._add(db, hit.key, hit.expiry, 1, now)
        return None

    def refund(self, keys: Sequence[str]) -> None:
        now = self._clock()
        with self._transaction(write=True) as db:
            db.executemany(
                "UPDATE counters SET count = count - 1 "
                "WHERE key = ? AND expires_at > ? AND count > 0",
                [(key, now) for key in keys],
            )

    def get(self, key: str) -> int:
        row = self._read(_OPEN_WINDOW, key)
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._read(_OPEN_WINDOW, key)
        return float(row[1]) if row else self._clock()

    def clear(self, key: str) -> None:
        with self._transaction(write=True) as db:
            db.execute("DELETE FROM counters WHERE key = ?", (key,))

    # idempotency records

    def claim(self, key: str, fingerprint: str, *, lease: float, ttl: float) -> Claim:
        now = self._clock()
        with self._transaction(write=True) as db:
            row = db.execute("SELECT record FROM idempotency WHERE key = ?", (key,)).fetchone()
            existing = IdempotencyRecord.from_json(row[0]) if row else None
            claim, record = decide_claim(existing, fingerprint, now=now, lease=lease, ttl=ttl)
            if record is not None:
                self._put(db, key, record)
        return claim

    def has_record(self, key: str) -> bool:
        query = "SELECT 1 FROM idempotency WHERE key = ? AND expires_at > ?"
        return self._read(query, key) is not None

    def save(self, key: str, record: IdempotencyRecord) -> None:
        with self._transaction(write=True) as db:
            self._check_held(db, key, record.attempt)
            self._put(db, key, record)

    def release(self, key: str, attempt: str) -> None:
        with self._transaction(write=True) as db:
            self._check_held(db, key, attempt)
            db.execute("DELETE FROM idempotency WHERE key = ?", (key,))

    def _check_held(self, db: sqlite3.Connection, key: str, attempt: str) -> None:
        row = db.execute("SELECT record FROM idempotency WHERE key = ?", (key,)).fetchone()
        existing = IdempotencyRecord.from_json(row[0]) if row else None
        if not held_by(existing, attempt, now=self._clock()):
            raise AttemptSuperseded("Another attempt holds the idempotency record now.")

    # order locks

    def lock(self, key: str, owner: str, lease: float) -> float | None:
        now = self._clock()
        with self._transaction(write=True) as db:
            row = db.execute("SELECT owner, expires_at FROM locks WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return float(row[1])
            db.execute(
                "INSERT OR REPLACE INTO locks (key, owner, expires_at) VALUES (?, ?, ?)",
                (key, owner, now + lease),
            )
        return None

    def unlock(self, key: str, owner: str) -> None:
        with self._transaction(write=True) as db:
            db.execute("DELETE FROM locks WHERE key = ? AND owner = ?", (key, owner))

    # pending charges

    def mark_pending(self, key: str, ttl: float) -> None:
        with self._transaction(write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO pending (key, expires_at) VALUES (?, ?)",
                (key, self._clock() + ttl),
            )

    def is_pending(self, key: str) -> bool:
        return self._read("SELECT 1 FROM pending WHERE key = ? AND expires_at > ?", key) is not None

    def clear_pending(self, key: str) -> None:
        with self._transaction(write=True) as db:
            db.execute("DELETE FROM pending WHERE key = ?", (key,))

    # names (a caller's ids of a provider's)

    def put_name(self, key: str, value: str, ttl: float | None = None) -> None:
        expires_at = _FOR_GOOD if ttl is None else self._clock() + ttl
        with self._transaction(write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO names (key, value, expires_at) VALUES (?, ?, ?)",
                (key, value, expires_at),
            )

    def get_name(self, key: str) -> str | None:
        row = self._read("SELECT value FROM names WHERE key = ? AND expires_at > ?", key)
        return None if row is None else str(row[0])

    def drop_name(self, key: str, value: str) -> None:
        with self._transaction(write=True) as db:
            db.execute("DELETE FROM names WHERE key = ? AND value = ?", (key, value))

    def check(self) -> None:
        # Under the write lock: a database that can be read but not written (read-only,
        # locked past the busy timeout, its disk full) cannot serve a charge either.
        with self._transaction() as db:
            db.execute("SELECT 1 FROM counters LIMIT 1")

    # what the tables kept in the same file by others (the outbox) use

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One read-then-write on this thread's connection (``BEGIN IMMEDIATE``): committed when
        the block ends, rolled back if it raises; every SQLite error StateUnavailable."""
        return self._transaction()

    def query(self, query: str, args: tuple[Any, ...]) -> list[Any]:
        """The rows ``query`` reads; every SQLite error StateUnavailable."""
        try:
            return self._connection().execute(query, args).fetchall()
        except sqlite3.Error as exc:
            raise StateUnavailable("The state database cannot be read.") from exc

    # plumbing

    @staticmethod
    def _add(db: sqlite3.Connection, key: str, expiry: int, amount: int, now: float) -> int:
        (count,) = db.execute(
            "INSERT INTO counters (key, count, expires_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (key) DO UPDATE SET "
            "count = CASE WHEN expires_at <= ?4 THEN ?2 ELSE count + ?2 END, "
            "expires_at = CASE WHEN expires_at <= ?4 THEN ?3 ELSE expires_at END "
            "RETURNING count",
            (key, amount, now + expiry, now),
        ).fetchone()
        return int(count)

    @staticmethod
    def _put(db: sqlite3.Connection, key: str, record: IdempotencyRecord) -> None:
        db.execute(
            "INSERT OR REPLACE INTO idempotency (key, record, expires_at) VALUES (?, ?, ?)",
            (key, record.to_json(), record.expires_at),
        )

    def _read(self, query: str, key: str) -> Any:
        rows = self.query(query, (key, self._clock()))
        return rows[0] if rows else None

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                if write:
                    self._sweep(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StateUnavailable("The state database cannot be written.") from exc

    def _sweep(self, db: sqlite3.Connection) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY:
            return
        now = self._clock()
        for table in ("counters", "idempotency", "pending", "locks", "names"):
            db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))  # noqa: S608

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            # One thread of the process at a time: a new file's switch to WAL and its tables
            # take exclusive locks, and a burst of threads opening it at once (a worker's first
            # requests, its consumer and checks) made some wait past the busy timeout (503).
            with _FIRST_CONNECTIONS:
                # isolation_level None: no implicit BEGIN; transactions are begun explicitly.
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: durable across a crash of the service, not of the
                # machine's power; no fsync per request.
                db.execute("PRAGMA synchronous=NORMAL")
                # Here, not at start-up: a database that is broken then answers 503 to what
                # needs it, and the service still serves the rest (lookups, health).
                for statement in _SCHEMA:
                    db.execute(statement)
            local.db, local.pid = db, os.getpid()
        db_: sqlite3.Connection = local.db
        return db_
