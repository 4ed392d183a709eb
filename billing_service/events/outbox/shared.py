"""The shared outbox: Redis, through the shared store's client."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from ...config import DEFAULT_EVENT_RETENTION
from ...state.shared import SharedStore
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

_KEY = "billing:outbox:"
_DUE = _KEY + "due"  # sorted set: pending delivery ids by due time
_DELIVERY = _KEY + "delivery:"  # hash per delivery
_STATUS = _KEY + "status:"  # sorted set per status: delivery ids by their event's creation
_EVENT = _KEY + "event:"  # set per event: its delivery ids
_DEDUP = _KEY + "dedup:"  # SET NX, kept DEDUP_TTL_S
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
    "kind",  # absent from rows kept before jobs had a kind (kind_of reads their URL)
)


def _delivery_id(event_id: str, url: str) -> str:
    return event_id + ":" + hashlib.sha256(url.encode()).hexdigest()[:16]


class SharedOutbox(CommonMethods):
    """An Outbox in the Redis at ``url`` (the shared store's client, timeouts and errors).

    Claims and additions are Lua scripts; an outcome is a WATCH/MULTI transaction on its
    delivery, decided by the same code as the embedded outbox's.
    """

    def __init__(
        self,
        url: str,
        clock: Callable[[], float] = time.time,
        *,
        retention: float = DEFAULT_EVENT_RETENTION,
    ) -> None:
        self.url = url
        self._clock = clock
        self._retention = retention
        self._store = SharedStore(url, clock)
        # Each script (outbox/lua/) is one atomic step; the delivery hashes it names are not in
        # KEYS, so the outbox needs one Redis (or a primary with replicas), not a Redis Cluster.
        self._add_script = self._store.script(__package__, "add.lua")
        self._claim_script = self._store.script(__package__, "claim.lua")
        self._redeliver_script = self._store.script(__package__, "redeliver.lua")
        self._prune_script = self._store.script(__package__, "prune.lua")

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
        rows = [part for url, kind in targets for part in (_delivery_id(event_id, url), url, kind)]
        keys = [_DEDUP + dedup_key, _DUE, _STATUS + "pending", _EVENT + event_id]
        due = repr(now if due_at is None else due_at)
        args: list[str | bytes | int] = [int(DEDUP_TTL_S * 1000), repr(now), event_id]
        args += [event_type, _DELIVERY, due, body, *rows]
        added = self._store.run(lambda r: self._add_script(keys=keys, args=args, client=r))
        return event_id if added else None

    def claim(self, limit: int, lease_seconds: float) -> list[Delivery]:
        now = self._clock()
        lease = secrets.token_hex(8)
        args: list[str | int] = [repr(now), limit, repr(now + lease_seconds), lease, _DELIVERY]
        rows = self._store.run(lambda r: self._claim_script(keys=[_DUE], args=args, client=r))
        return [_claimed(row, lease) for row in rows]

    def _record(
        self, d: Delivery, outcome: Status, *, when: float | None = None, error: str | None = None
    ) -> None:
        delivery_id = _delivery_id(d.event_id, d.url)
        key = _DELIVERY + delivery_id

        def attempt(pipe: Any) -> None:
            lease, status, created_at = pipe.hmget(key, "lease", "status", "created_at")
            change = finish(
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
        self._store.run(lambda r: r.transaction(transaction, key))

    def records(self, status: str | None, limit: int = 100, keep: Keep = None) -> list[EventRecord]:
        statuses = [status] if status else list(STATUSES)
        # Scores are the events' creation: ended deliveries past their retention are left out.
        cutoff = f"({self._clock() - self._retention!r}"

        def newest(count: int) -> tuple[list[EventRecord], bool]:
            def read(r: redis.Redis) -> tuple[list[Any], bool]:
                pipe = r.pipeline(transaction=False)
                for name in statuses:
                    oldest = "-inf" if name == "pending" else cutoff
                    pipe.zrevrangebyscore(
                        _STATUS + name, "+inf", oldest, start=0, num=count, withscores=True
                    )
                ranked_lists = pipe.execute()
                ranked = sorted((i for items in ranked_lists for i in items), key=lambda i: -i[1])
                pipe = r.pipeline(transaction=False)
                for delivery_id, _ in ranked[:count]:
                    pipe.hmget(_DELIVERY + delivery_id.decode(), *_RECORD_FIELDS, "body")
                rows = [row for row in pipe.execute() if row[0] is not None]
                return rows, any(len(items) == count for items in ranked_lists)

            rows, more = self._store.run(read)
            return [_record_of(row) for row in rows], more

        return newest_kept(newest, limit, keep)

    def customer_of(self, event_id: str) -> str | None:
        def body(r: redis.Redis) -> Any:
            delivery_id: Any = r.srandmember(_EVENT + event_id)  # one of its deliveries
            return r.hget(_DELIVERY + delivery_id.decode(), "body") if delivery_id else None

        return customer_in(self._store.run(body))

    def redeliver(self, event_id: str) -> int:
        keys = [_EVENT + event_id, _DUE, _STATUS + "failed", _STATUS + "pending"]
        args = [repr(self._clock()), _DELIVERY]
        return int(
            self._store.run(lambda r: self._redeliver_script(keys=keys, args=args, client=r))
        )

    def next_due(self) -> float | None:
        first = self._store.run(lambda r: r.zrange(_DUE, 0, 0, withscores=True))
        return float(first[0][1]) if first else None

    def counts(self) -> dict[str, int]:
        def count(r: redis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for status in STATUSES:
                pipe.zcard(_STATUS + status)
            return pipe.execute()

        return dict(zip(STATUSES, (int(n) for n in self._store.run(count)), strict=True))

    def prune(self) -> int:
        keys = [_STATUS + "delivered", _STATUS + "failed"]
        args: list[str | int] = [
            repr(self._clock() - self._retention),
            PRUNE_BATCH,
            _DELIVERY,
            _EVENT,
        ]
        return int(self._store.run(lambda r: self._prune_script(keys=keys, args=args, client=r)))

    def check(self) -> None:
        self._store.check()

    def close(self) -> None:
        """Close the connections to Redis (a worker exiting; tests)."""
        self._store.close()


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
        customer_uid=customer_in(row[10]),
        kind=kind_of(text[9], text[1] or ""),
    )


def _claimed(row: list[Any], lease: str) -> Delivery:
    event_id, url, event_type, body, attempts, kind = row
    return Delivery(
        event_id.decode(),
        url.decode(),
        event_type.decode(),
        body,
        int(attempts),
        lease,
        kind_of(kind.decode() if kind else None, url.decode()),
    )
