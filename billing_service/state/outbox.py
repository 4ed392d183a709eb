"""The outbox: events to send to internal subscribers, kept until each one has them.

``add`` writes one delivery per subscriber URL, due at once; a consumer ``claim``s due ones,
which pushes their due time to the end of a lease, sends them, then records the outcome
(``delivered``, ``retry_at``, ``give_up``). A consumer that dies mid-attempt records nothing:
its deliveries are due again when their lease ends, and another consumer sends them (at least
once, never lost). An outcome is recorded only under the lease it was claimed with, so an
attempt that outlived its lease cannot overwrite what the newer claim recorded.

``EmbeddedOutbox`` keeps the outbox in the embedded store's SQLite file, ``SharedOutbox`` in
Redis; both apply the rules below (``_finish``) the same way, in one atomic read-then-write.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal, Protocol

import redis

from .embedded import EmbeddedStore
from .shared import SharedStore
from .store import StateUnavailable

Status = Literal["pending", "delivered", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "delivered", "failed")
# How long a dedup key is remembered: "one state change, one event" for at least this long.
DEDUP_TTL_S = 30 * 24 * 3600
# last_error is a short fixed text ("HTTP 503", "timeout"): cut anything longer.
_MAX_ERROR = 100


@dataclass(frozen=True)
class Delivery:
    """One event for one subscriber, as claimed: send ``body`` (signed) to ``url``."""

    event_id: str  # the Standard Webhooks webhook-id: the same for every subscriber and retry
    url: str
    event_type: str
    body: bytes  # the exact JSON bytes to sign and send: {"type", "timestamp", "data"}
    attempts: int  # attempts made before this one
    lease: str  # the token of this claim: outcomes are recorded only under it


@dataclass(frozen=True)
class EventRecord:
    """One delivery as listed (ops, the admin API): nothing of the body."""

    event_id: str
    url: str
    event_type: str
    status: Status
    attempts: int
    created_at: float
    next_attempt_at: float | None  # pending only (the end of the lease while one is claimed)
    last_error: str | None
    delivered_at: float | None
    customer_uid: str | None = None  # whose payment the event is about (None: no customer's)


# Which records a listing keeps (the caller's own, not internal ones): None, all of them.
Keep = Callable[[EventRecord], bool] | None


class Outbox(Protocol):
    """Durable, at-least-once outbox of events; every failure is StateUnavailable."""

    def add(
        self,
        event_type: str,
        data: dict[str, Any],
        urls: Sequence[str],
        *,
        dedup_key: str,
        due_at: float | None = None,
    ) -> str | None:
        """One delivery per URL, due now (or at ``due_at``); the event id, or None if
        ``dedup_key`` was added before (kept DEDUP_TTL_S): one state change, one event."""

    def claim(self, limit: int, lease_seconds: float) -> list[Delivery]:
        """Take at most ``limit`` due deliveries, due again after ``lease_seconds``."""

    def delivered(self, d: Delivery) -> None:
        """The subscriber has it (if ``d.lease`` is still the current lease)."""

    def retry_at(self, d: Delivery, when: float, error: str) -> None:
        """The attempt failed: due again at ``when`` (if ``d.lease`` is still current)."""

    def give_up(self, d: Delivery, error: str) -> None:
        """The attempt failed for the last time: ``failed`` (if ``d.lease`` is current)."""

    def records(self, status: str | None, limit: int = 100, keep: Keep = None) -> list[EventRecord]:
        """The newest ``limit`` deliveries (of ``status``, or any) that ``keep`` keeps."""

    def customer_of(self, event_id: str) -> str | None:
        """The customer the event is about (None: no customer's, or no such event)."""

    def redeliver(self, event_id: str) -> int:
        """The event's failed deliveries pending again, due now, attempts reset; how many."""

    def next_due(self) -> float | None:
        """When the earliest pending delivery is due (None: none is pending)."""

    def counts(self) -> dict[str, int]:
        """How many deliveries there are of each status."""


# The rules both outboxes apply.


def new_event(event_type: str, data: dict[str, Any], now: float) -> tuple[str, bytes]:
    """A new event's id and body (compact JSON, ASCII)."""
    event_id = "evt_" + secrets.token_hex(12)
    timestamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    body = {"type": event_type, "timestamp": timestamp.replace("+00:00", "Z"), "data": data}
    return event_id, json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Finish:
    """What an outcome writes to its delivery."""

    status: Status
    due_at: float | None  # None: no longer due (delivered, failed)
    last_error: str | None
    delivered_at: float | None


def _finish(
    current_lease: str | None,
    d: Delivery,
    outcome: Status,
    *,
    now: float,
    when: float | None = None,
    error: str | None = None,
) -> _Finish | None:
    """What recording ``outcome`` for ``d`` writes (None: nothing, its lease is not current)."""
    if not current_lease or current_lease != d.lease:
        return None
    cut = error[:_MAX_ERROR] if error is not None else None
    if outcome == "delivered":
        return _Finish("delivered", None, None, now)
    if outcome == "pending":
        return _Finish("pending", now if when is None else when, cut, None)
    return _Finish("failed", None, cut, None)


def customer_in(body: bytes | None) -> str | None:
    """The ``customer_uid`` of the payment an event's body is about (None: none)."""
    data = json.loads(body)["data"] if body else {}
    payment = data.get("payment") if isinstance(data, dict) else None
    customer = payment.get("customer_uid") if isinstance(payment, dict) else None
    return customer if isinstance(customer, str) else None


def _newest_kept(
    newest: Callable[[int], tuple[list[EventRecord], bool]], limit: int, keep: Keep
) -> list[EventRecord]:
    """The first ``limit`` records that ``keep`` keeps, from ``newest(count)`` (the newest
    ``count`` records, and whether there may be more): 4 times as many each round, until
    enough are kept or none are left."""
    count = limit
    while True:
        records, more = newest(count)
        kept = list(islice(filter(keep, records), limit))
        if len(kept) == limit or not more or keep is None:
            return kept
        count *= 4


def _unique(urls: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(urls))


class _Common:
    """The outcome methods, over one operation each store implements atomically."""

    _clock: Callable[[], float]

    def delivered(self, d: Delivery) -> None:
        self._record(d, "delivered")

    def retry_at(self, d: Delivery, when: float, error: str) -> None:
        self._record(d, "pending", when=when, error=error)

    def give_up(self, d: Delivery, error: str) -> None:
        self._record(d, "failed", error=error)

    def _record(
        self, d: Delivery, outcome: Status, *, when: float | None = None, error: str | None = None
    ) -> None:
        raise NotImplementedError


# The embedded outbox (SQLite).

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox_events (event_id TEXT PRIMARY KEY, "
    "event_type TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox_deliveries (event_id TEXT NOT NULL, url TEXT NOT NULL, "
    "status TEXT NOT NULL, attempts INTEGER NOT NULL, due_at REAL, lease TEXT, "
    "last_error TEXT, delivered_at REAL, PRIMARY KEY (event_id, url))",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox_deliveries (due_at) WHERE status = 'pending'",
    "CREATE TABLE IF NOT EXISTS outbox_dedup (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
)
# Expired dedup keys are deleted every so many additions, not on every one.
_SWEEP_EVERY = 500
_RECORD_COLUMNS = (
    "d.event_id, d.url, e.event_type, d.status, d.attempts, e.created_at, d.due_at, "
    "d.last_error, d.delivered_at"
)


class EmbeddedOutbox(_Common):
    """An Outbox in the embedded store's SQLite file ``path``.

    Its connections and transactions are the embedded store's own (per thread and process,
    WAL, ``BEGIN IMMEDIATE``, busy timeout, every error StateUnavailable); its tables are
    created on a process's first use, like the store's.
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._db = EmbeddedStore(path, clock)
        self._schema_pid: int | None = None
        self._adds = 0

    def add(
        self,
        event_type: str,
        data: dict[str, Any],
        urls: Sequence[str],
        *,
        dedup_key: str,
        due_at: float | None = None,
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
                "INSERT INTO outbox_deliveries (event_id, url, status, attempts, due_at) "
                "VALUES (?, ?, 'pending', 0, ?)",
                [(event_id, url, now if due_at is None else due_at) for url in _unique(urls)],
            )
        return event_id

    def claim(self, limit: int, lease_seconds: float) -> list[Delivery]:
        now = self._clock()
        lease = secrets.token_hex(8)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT d.event_id, d.url, e.event_type, e.body, d.attempts "
                "FROM outbox_deliveries d JOIN outbox_events e USING (event_id) "
                "WHERE d.status = 'pending' AND d.due_at <= ? ORDER BY d.due_at LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE outbox_deliveries SET due_at = ?, lease = ?, attempts = attempts + 1 "
                "WHERE event_id = ? AND url = ?",
                [(now + lease_seconds, lease, row[0], row[1]) for row in rows],
            )
        return [Delivery(r[0], r[1], r[2], bytes(r[3]), int(r[4]), lease) for r in rows]

    def _record(
        self, d: Delivery, outcome: Status, *, when: float | None = None, error: str | None = None
    ) -> None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT lease FROM outbox_deliveries WHERE event_id = ? AND url = ?",
                (d.event_id, d.url),
            ).fetchone()
            change = _finish(
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
        where, args = ("WHERE d.status = ?", (status,)) if status else ("", ())

        def newest(count: int) -> tuple[list[EventRecord], bool]:
            rows = self._query(
                f"SELECT {_RECORD_COLUMNS}, e.body FROM outbox_deliveries d "  # noqa: S608
                f"JOIN outbox_events e USING (event_id) {where} "
                "ORDER BY e.created_at DESC, d.event_id, d.url LIMIT ?",
                (*args, count),
            )
            records = [
                EventRecord(
                    r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6], r[7], r[8], customer_in(r[9])
                )
                for r in rows
            ]
            return records, len(rows) == count

        return _newest_kept(newest, limit, keep)

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

    def check(self) -> None:
        self._query("SELECT 1 FROM outbox_dedup LIMIT 1", ())

    # plumbing: the embedded store's connections and transactions, and this outbox's tables

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._ensure_schema()
        with self._db._transaction() as db:
            yield db

    def _query(self, query: str, args: tuple[Any, ...]) -> list[Any]:
        self._ensure_schema()
        try:
            return self._db._connection().execute(query, args).fetchall()
        except sqlite3.Error as exc:
            raise StateUnavailable("The outbox cannot be read.") from exc

    def _ensure_schema(self) -> None:
        # Once per process, outside any transaction (each statement commits on its own), so a
        # rolled-back transaction cannot take the tables with it.
        if self._schema_pid == os.getpid():
            return
        try:
            db = self._db._connection()
            for statement in _SCHEMA:
                db.execute(statement)
        except sqlite3.Error as exc:
            raise StateUnavailable("The outbox's tables cannot be created.") from exc
        self._schema_pid = os.getpid()


# The shared outbox (Redis).

_KEY = "billing:outbox:"
_DUE = _KEY + "due"  # sorted set: pending delivery ids by due time
_DELIVERY = _KEY + "delivery:"  # hash per delivery
_STATUS = _KEY + "status:"  # sorted set per status: delivery ids by their event's creation
_EVENT = _KEY + "event:"  # set per event: its delivery ids
_DEDUP = _KEY + "dedup:"  # SET NX, kept DEDUP_TTL_S

# Each script is one atomic step; the delivery hashes it names are not in KEYS, so the outbox
# needs one Redis (or a primary with replicas), not a Redis Cluster.
_ADD = """
if not redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[1]) then return 0 end
for i = 8, #ARGV, 2 do
  local id = ARGV[i]
  redis.call('HSET', ARGV[5] .. id, 'event_id', ARGV[3], 'url', ARGV[i + 1],
    'event_type', ARGV[4], 'body', ARGV[7], 'status', 'pending', 'attempts', 0,
    'created_at', ARGV[2], 'due_at', ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[6], id)
  redis.call('ZADD', KEYS[3], ARGV[2], id)
  redis.call('SADD', KEYS[4], id)
end
return 1
"""
_CLAIM = """
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])) do
  local key = ARGV[5] .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    local attempts = redis.call('HINCRBY', key, 'attempts', 1) - 1
    redis.call('HSET', key, 'due_at', ARGV[3], 'lease', ARGV[4])
    local f = redis.call('HMGET', key, 'event_id', 'url', 'event_type', 'body')
    table.insert(out, {f[1], f[2], f[3], f[4], attempts})
  end
end
return out
"""
_REDELIVER = """
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. id
  if redis.call('HGET', key, 'status') == 'failed' then
    redis.call('HSET', key, 'status', 'pending', 'attempts', 0, 'due_at', ARGV[1])
    redis.call('HDEL', key, 'lease')
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZADD', KEYS[4], redis.call('HGET', key, 'created_at'), id)
    redis.call('ZADD', KEYS[2], ARGV[1], id)
    n = n + 1
  end
end
return n
"""
_RECORD_FIELDS = (
    "event_id",
    "url",
    "event_type",
    "status",
    "attempts",
    "created_at",
    "due_at",
    "last_error",
    "delivered_at",
)


def _delivery_id(event_id: str, url: str) -> str:
    return event_id + ":" + hashlib.sha256(url.encode()).hexdigest()[:16]


class SharedOutbox(_Common):
    """An Outbox in the Redis at ``url`` (the shared store's client, timeouts and errors).

    Claims and additions are Lua scripts; an outcome is a WATCH/MULTI transaction on its
    delivery, decided by the same code as the embedded outbox's.
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._clock = clock
        self._store = SharedStore(url, clock)
        client = self._store._redis
        self._add, self._claim = client.register_script(_ADD), client.register_script(_CLAIM)
        self._redeliver = client.register_script(_REDELIVER)

    def add(
        self,
        event_type: str,
        data: dict[str, Any],
        urls: Sequence[str],
        *,
        dedup_key: str,
        due_at: float | None = None,
    ) -> str | None:
        now = self._clock()
        event_id, body = new_event(event_type, data, now)
        pairs = [part for url in _unique(urls) for part in (_delivery_id(event_id, url), url)]
        keys = [_DEDUP + dedup_key, _DUE, _STATUS + "pending", _EVENT + event_id]
        due = repr(now if due_at is None else due_at)
        args: list[str | bytes | int] = [int(DEDUP_TTL_S * 1000), repr(now), event_id]
        args += [event_type, _DELIVERY, due, body, *pairs]
        added = self._run(lambda r: self._add(keys=keys, args=args, client=r))
        return event_id if added else None

    def claim(self, limit: int, lease_seconds: float) -> list[Delivery]:
        now = self._clock()
        lease = secrets.token_hex(8)
        args: list[str | int] = [repr(now), limit, repr(now + lease_seconds), lease, _DELIVERY]
        rows = self._run(lambda r: self._claim(keys=[_DUE], args=args, client=r))
        return [
            Delivery(row[0].decode(), row[1].decode(), row[2].decode(), row[3], int(row[4]), lease)
            for row in rows
        ]

    def _record(
        self, d: Delivery, outcome: Status, *, when: float | None = None, error: str | None = None
    ) -> None:
        delivery_id = _delivery_id(d.event_id, d.url)
        key = _DELIVERY + delivery_id

        def attempt(pipe: Any) -> None:
            lease, status, created_at = pipe.hmget(key, "lease", "status", "created_at")
            change = _finish(
                lease.decode() if lease else None,
                d,
                outcome,
                now=self._clock(),
                when=when,
                error=error,
            )
            pipe.multi()
            if change is None:
                return
            fields = {
                "status": change.status,
                "due_at": change.due_at,
                "last_error": change.last_error,
                "delivered_at": change.delivered_at,
            }
            pipe.hset(
                key,
                mapping={
                    k: repr(v) if isinstance(v, float) else v
                    for k, v in fields.items()
                    if v is not None
                },
            )
            pipe.hdel(key, "lease", *(k for k, v in fields.items() if v is None))
            if change.due_at is None:
                pipe.zrem(_DUE, delivery_id)
            else:
                pipe.zadd(_DUE, {delivery_id: change.due_at})
            if status.decode() != change.status:
                pipe.zrem(_STATUS + status.decode(), delivery_id)
                pipe.zadd(_STATUS + change.status, {delivery_id: float(created_at)})

        transaction: Any = attempt
        self._run(lambda r: r.transaction(transaction, key))

    def records(self, status: str | None, limit: int = 100, keep: Keep = None) -> list[EventRecord]:
        statuses = [status] if status else list(STATUSES)

        def newest(count: int) -> tuple[list[EventRecord], bool]:
            def read(r: redis.Redis) -> tuple[list[Any], bool]:
                pipe = r.pipeline(transaction=False)
                for name in statuses:
                    pipe.zrevrange(_STATUS + name, 0, count - 1, withscores=True)
                ranked_lists = pipe.execute()
                ranked = sorted((i for items in ranked_lists for i in items), key=lambda i: -i[1])
                pipe = r.pipeline(transaction=False)
                for delivery_id, _ in ranked[:count]:
                    pipe.hmget(_DELIVERY + delivery_id.decode(), *_RECORD_FIELDS, "body")
                rows = [row for row in pipe.execute() if row[0] is not None]
                return rows, any(len(items) == count for items in ranked_lists)

            rows, more = self._run(read)
            return [_record_of(row) for row in rows], more

        return _newest_kept(newest, limit, keep)

    def customer_of(self, event_id: str) -> str | None:
        def body(r: redis.Redis) -> Any:
            delivery_id: Any = r.srandmember(_EVENT + event_id)  # one of its deliveries
            return r.hget(_DELIVERY + delivery_id.decode(), "body") if delivery_id else None

        return customer_in(self._run(body))

    def redeliver(self, event_id: str) -> int:
        keys = [_EVENT + event_id, _DUE, _STATUS + "failed", _STATUS + "pending"]
        args = [repr(self._clock()), _DELIVERY]
        return int(self._run(lambda r: self._redeliver(keys=keys, args=args, client=r)))

    def next_due(self) -> float | None:
        first = self._run(lambda r: r.zrange(_DUE, 0, 0, withscores=True))
        return float(first[0][1]) if first else None

    def counts(self) -> dict[str, int]:
        def count(r: redis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for status in STATUSES:
                pipe.zcard(_STATUS + status)
            return pipe.execute()

        return dict(zip(STATUSES, (int(n) for n in self._run(count)), strict=True))

    def check(self) -> None:
        self._store.check()

    def close(self) -> None:
        """Close the connections to Redis (a worker exiting; tests)."""
        self._store._redis.close()

    def _run(self, operation: Callable[[redis.Redis], Any]) -> Any:
        return self._store._run(operation)


def _record_of(row: list[bytes | None]) -> EventRecord:
    text = [value.decode() if value is not None else None for value in row]
    status: Any = text[3]
    return EventRecord(
        event_id=text[0] or "",
        url=text[1] or "",
        event_type=text[2] or "",
        status=status,
        attempts=int(text[4] or 0),
        created_at=float(text[5] or 0),
        next_attempt_at=float(text[6]) if status == "pending" and text[6] else None,
        last_error=text[7],
        delivered_at=float(text[8]) if text[8] else None,
        customer_uid=customer_in(row[9]),
    )
