"""The embedded outbox: tables in the embedded store's SQLite file."""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ...config import DEFAULT_EVENT_RETENTION
from ...state.embedded import EmbeddedStore
from .rules import (
    DEDUP_TTL_S,
    PRUNE_BATCH,
    STATUSES,
    CommonMethods,
    Delivery,
    EventRecord,
    Keep,
    Status,
    customer_in,
    finish,
    kind_of,
    new_event,
    newest_kept,
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox_events (event_id TEXT PRIMARY KEY, "
    "event_type TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox_deliveries (event_id TEXT NOT NULL, url TEXT NOT NULL, "
    "status TEXT NOT NULL, attempts INTEGER NOT NULL, due_at REAL, lease TEXT, "
    "last_error TEXT, delivered_at REAL, kind TEXT, PRIMARY KEY (event_id, url))",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox_deliveries (due_at) WHERE status = 'pending'",
    "CREATE TABLE IF NOT EXISTS outbox_dedup (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outbox_created ON outbox_events (created_at)",
)
# Expired dedup keys are deleted every so many additions, not on every one.
_SWEEP_EVERY = 500
_RECORD_COLUMNS = (
    "d.event_id, d.url, e.event_type, d.status, d.attempts, e.created_at, d.due_at, "
    "d.last_error, d.delivered_at, d.kind"
)


class EmbeddedOutbox(CommonMethods):
    """An Outbox in the embedded store's SQLite file ``path``.

    Its connections and transactions are the embedded store's own (per thread and process,
    WAL, ``BEGIN IMMEDIATE``, busy timeout, every error StateUnavailable); its tables are
    created on a process's first use, like the store's.
    """

    def __init__(
        self,
        path: str,
        clock: Callable[[], float] = time.time,
        *,
        retention: float = DEFAULT_EVENT_RETENTION,
    ) -> None:
        self.path = path
        self._clock = clock
        self._retention = retention
        self._db = EmbeddedStore(path, clock)
        self._schema_pid: int | None = None
        self._adds = 0

    def _add(
        self,
        event_type: str,
        data: dict[str, Any],
        targets: Sequence[tuple[str, str]],
        *,
        dedup_key: str,
        due_at: float | None,
    ) -> str | None:
        now = self._clock()
        event_id, body = new_event(event_type, data, now)
        with self._transaction() as db:
            self._adds += 1
            if self._adds % _SWEEP_EVERY == 0:  # now and then, the dedup keys that expired
                db.execute("DELETE FROM outbox_dedup WHERE expires_at <= ?", (now,))
            else:
                db.execute(
                    "DELETE FROM outbox_dedup WHERE key = ? AND expires_at <= ?", (dedup_key, now)
                )
            added = db.execute(
                "INSERT OR IGNORE INTO outbox_dedup (key, expires_at) VALUES (?, ?)",
                (dedup_key, now + DEDUP_TTL_S),
            ).rowcount
            if not added:
                return None
            db.execute(
                "INSERT INTO outbox_events (event_id, event_type, body, created_at) "
                "VALUES (?, ?, ?, ?)",
                (event_id, event_type, body, now),
            )
            db.executemany(
                "INSERT INTO outbox_deliveries (event_id, url, kind, status, attempts, due_at) "
                "VALUES (?, ?, ?, 'pending', 0, ?)",
                [(event_id, url, kind, now if due_at is None else due_at) for url, kind in targets],
            )
        return event_id

    def claim(self, limit: int, lease_seconds: float) -> list[Delivery]:
        now = self._clock()
        lease = secrets.token_hex(8)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT d.event_id, d.url, e.event_type, e.body, d.attempts, d.kind "
                "FROM outbox_deliveries d JOIN outbox_events e USING (event_id) "
                "WHERE d.status = 'pending' AND d.due_at <= ? ORDER BY d.due_at LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE outbox_deliveries SET due_at = ?, lease = ?, attempts = attempts + 1 "
                "WHERE event_id = ? AND url = ?",
                [(now + lease_seconds, lease, row[0], row[1]) for row in rows],
            )
        return [
            Delivery(r[0], r[1], r[2], bytes(r[3]), int(r[4]), lease, kind_of(r[5], r[1]))
            for r in rows
        ]

    def _record(
        self, d: Delivery, outcome: Status, *, when: float | None = None, error: str | None = None
    ) -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT lease FROM outbox_deliveries WHERE event_id = ? AND url = ?",
                (d.event_id, d.url),
            ).fetchone()
            change = finish(
                row[0] if row else None, d, outcome, now=self._clock(), when=when, error=error
            )
            if change is not None:
                db.execute(
                    "UPDATE outbox_deliveries SET status = ?, due_at = ?, last_error = ?, "
                    "delivered_at = ?, lease = NULL WHERE event_id = ? AND url = ?",
                    (
                        change.status,
                        change.due_at,
                        change.last_error,
                        change.delivered_at,
                        d.event_id,
                        d.url,
                    ),
                )

    def records(self, status: str | None, limit: int = 100, keep: Keep = None) -> list[EventRecord]:
        where, args = ("AND d.status = ?", (status,)) if status else ("", ())

        def newest(count: int) -> tuple[list[EventRecord], bool]:
            rows = self._query(
                f"SELECT {_RECORD_COLUMNS}, e.body FROM outbox_deliveries d "  # noqa: S608
                "JOIN outbox_events e USING (event_id) "
                f"WHERE (d.status = 'pending' OR e.created_at > ?) {where} "
                "ORDER BY e.created_at DESC, d.event_id, d.url LIMIT ?",
                (self._clock() - self._retention, *args, count),
            )
            records = [
                EventRecord(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    int(r[4]),
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    customer_in(r[10]),
                    kind_of(r[9], r[1]),
                )
                for r in rows
            ]
            return records, len(rows) == count

        return newest_kept(newest, limit, keep)

    def customer_of(self, event_id: str) -> str | None:
        rows = self._query("SELECT body FROM outbox_events WHERE event_id = ?", (event_id,))
        return customer_in(rows[0][0]) if rows else None

    def redeliver(self, event_id: str) -> int:
        with self._transaction() as db:
            changed: int = db.execute(
                "UPDATE outbox_deliveries SET status = 'pending', due_at = ?, attempts = 0, "
                "lease = NULL WHERE event_id = ? AND status = 'failed'",
                (self._clock(), event_id),
            ).rowcount
        return changed

    def next_due(self) -> float | None:
        rows = self._query("SELECT MIN(due_at) FROM outbox_deliveries WHERE status = 'pending'", ())
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def counts(self) -> dict[str, int]:
        rows = self._query("SELECT status, COUNT(*) FROM outbox_deliveries GROUP BY status", ())
        return {status: 0 for status in STATUSES} | {r[0]: int(r[1]) for r in rows}

    def prune(self) -> int:
        cutoff = self._clock() - self._retention
        with self._transaction() as db:
            pruned: int = db.execute(
                "DELETE FROM outbox_deliveries WHERE rowid IN (SELECT d.rowid "
                "FROM outbox_events e JOIN outbox_deliveries d USING (event_id) "
                "WHERE e.created_at <= ? AND d.status != 'pending' LIMIT ?)",
                (cutoff, PRUNE_BATCH),
            ).rowcount
            db.execute(
                "DELETE FROM outbox_events WHERE created_at <= ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox_deliveries d WHERE d.event_id = outbox_events.event_id)",
                (cutoff,),
            )
        return pruned

    def check(self) -> None:
        self._query("SELECT 1 FROM outbox_dedup LIMIT 1", ())

    # plumbing: the embedded store's connections and transactions, and this outbox's tables

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        self._ensure_schema()
        return self._db.transaction()

    def _query(self, query: str, args: tuple[Any, ...]) -> list[Any]:
        self._ensure_schema()
        return self._db.query(query, args)

    def _ensure_schema(self) -> None:
        # Once per process, in a transaction of its own, so that a rolled-back operation cannot
        # take the tables with it.
        if self._schema_pid == os.getpid():
            return
        with self._db.transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(outbox_deliveries)")}
            if "kind" not in columns:  # a table made before jobs had a kind (kind_of reads them)
                db.execute("ALTER TABLE outbox_deliveries ADD COLUMN kind TEXT")
        self._schema_pid = os.getpid()
