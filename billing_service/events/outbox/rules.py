"""What every outbox holds and offers, and the rules of recording an attempt's outcome.

A row of the outbox is a delivery of its event to a subscriber's URL (kind ``DELIVERY``), or a
job of the service's own (its follow-ups: verify a notice later, reconcile a schedule, look a
charge or cancel up), run by the consumer's handler of its kind: a job has no URL, is never
sent, and is never listed to callers as a delivery.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal, Protocol

Status = Literal["pending", "delivered", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "delivered", "failed")
# How long a dedup key is remembered: "one state change, one event" for at least this long.
DEDUP_TTL_S = 30 * 24 * 3600
# The most deliveries one prune deletes (one short transaction, one script run).
PRUNE_BATCH = 500
# The kind of a row that is sent to a subscriber's URL; any other kind is a job.
DELIVERY = "delivery"
# Rows kept before jobs had a kind of their own named it in their URL: "internal:<kind>".
_JOB_URL = "internal:"
# last_error is a short fixed text ("HTTP 503", "timeout"): cut anything longer.
_MAX_ERROR = 100


@dataclass(frozen=True)
class Delivery:
    """One row as claimed: an event for one subscriber (send ``body``, signed, to ``url``), or a
    job of ``kind`` for its handler."""

    event_id: str  # the Standard Webhooks webhook-id: the same for every subscriber and retry
    url: str
    event_type: str
    body: bytes  # the exact JSON bytes to sign and send: {"type", "timestamp", "data"}
    attempts: int  # attempts made before this one
    lease: str  # the token of this claim: outcomes are recorded only under it
    kind: str = DELIVERY  # any other: a job, given to the handler of its kind ("" its url)


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
    kind: str = DELIVERY  # any other: a job of the service's own (its url "")


# Which records a listing keeps (the caller's own deliveries, not jobs): None, all of them.
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

    def add_job(
        self, kind: str, data: dict[str, Any], *, dedup_key: str, due_at: float | None = None
    ) -> str | None:
        """One job of ``kind`` (its event's type too), due now (or at ``due_at``); as ``add``."""

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

    def prune(self) -> int:
        """Delete at most PRUNE_BATCH delivered and failed deliveries past their retention (their
        event older than it), and events left with none; how many deliveries."""


# The rules both outboxes apply.


def new_event(event_type: str, data: dict[str, Any], now: float) -> tuple[str, bytes]:
    """A new event's id and body (compact JSON, ASCII)."""
    event_id = "evt_" + secrets.token_hex(12)
    timestamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
    body = {"type": event_type, "timestamp": timestamp.replace("+00:00", "Z"), "data": data}
    return event_id, json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Finish:
    """What an outcome writes to its delivery."""

    status: Status
    due_at: float | None  # None: no longer due (delivered, failed)
    last_error: str | None
    delivered_at: float | None


def finish(
    current_lease: str | None,
    d: Delivery,
    outcome: Status,
    *,
    now: float,
    when: float | None = None,
    error: str | None = None,
) -> Finish | None:
    """What recording ``outcome`` for ``d`` writes (None: nothing, its lease is not current)."""
    if not current_lease or current_lease != d.lease:
        return None
    cut = error[:_MAX_ERROR] if error is not None else None
    if outcome == "delivered":
        return Finish("delivered", None, None, now)
    if outcome == "pending":
        return Finish("pending", now if when is None else when, cut, None)
    return Finish("failed", None, cut, None)


def customer_in(body: bytes | None) -> str | None:
    """The ``customer_uid`` of the payment an event's body is about (None: none)."""
    data = json.loads(body)["data"] if body else {}
    payment = data.get("payment") if isinstance(data, dict) else None
    customer = payment.get("customer_uid") if isinstance(payment, dict) else None
    return customer if isinstance(customer, str) else None


def newest_kept(
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


def kind_of(kind: str | None, url: str) -> str:
    """A row's kind: as kept, or, for a row kept before jobs had one, as its URL names it."""
    if kind:
        return kind
    return url.removeprefix(_JOB_URL) if url.startswith(_JOB_URL) else DELIVERY


class CommonMethods:
    """The methods both outboxes share, over the operations each implements atomically."""

    _clock: Callable[[], float]

    def add(
        self,
        event_type: str,
        data: dict[str, Any],
        urls: Sequence[str],
        *,
        dedup_key: str,
        due_at: float | None = None,
    ) -> str | None:
        targets = [(url, DELIVERY) for url in dict.fromkeys(urls)]
        return self._add(event_type, data, targets, dedup_key=dedup_key, due_at=due_at)

    def add_job(
        self, kind: str, data: dict[str, Any], *, dedup_key: str, due_at: float | None = None
    ) -> str | None:
        if kind == DELIVERY:
            raise ValueError("A job's kind cannot be the deliveries' own.")
        return self._add(kind, data, [("", kind)], dedup_key=dedup_key, due_at=due_at)

    def delivered(self, d: Delivery) -> None:
        self._record(d, "delivered")

    def retry_at(self, d: Delivery, when: float, error: str) -> None:
        self._record(d, "pending", when=when, error=error)

    def give_up(self, d: Delivery, error: str) -> None:
        self._record(d, "failed", error=error)

    def _add(
        self,
        event_type: str,
        data: dict[str, Any],
        targets: Sequence[tuple[str, str]],
        *,
        dedup_key: str,
        due_at: float | None,
    ) -> str | None:
        """One event, one row per (url, kind) of ``targets``: what ``add`` and ``add_job`` do."""
        raise NotImplementedError

    def _record(
        self, d: Delivery, outcome: Status, *, when: float | None = None, error: str | None = None
    ) -> None:
        raise NotImplementedError
