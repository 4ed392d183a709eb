"""Thread-safe in-memory state of the PortOne V2 fake: billing keys, payments (every attempt of
each paymentId), payment schedules, the noticeUrls given, config; its tokens in `tokens.py`,
its idempotency keys in `idempotency.py`, its time on the shared sandbox clock."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from ..clock import Clock
from .config import Config
from .idempotency import Idempotency
from .tokens import Tokens

R = TypeVar("R")

# An attempt in one of these takes its paymentId: a new charge with it is 409 ALREADY_PAID.
PAID_STATUSES = frozenset({"PAID", "PARTIAL_CANCELLED", "CANCELLED"})


@dataclasses.dataclass
class _BillingKey:
    info: dict[str, Any]  # the BillingKeyInfo answered by the API (ISSUED or DELETED)
    charge: str  # cards.CHARGE_*: how charges with this key end (the card itself is not kept)
    seq: int  # order of issuance: breaks ties between equal times
    notice_urls: list[str]  # the issuance's noticeUrls: where its webhooks go


@dataclasses.dataclass
class _Schedule:
    info: dict[str, Any]  # the PaymentSchedule answered by the API
    payment: dict[str, Any]  # the payment input it charges (POST .../schedule's `payment`)
    due: float  # timeToPay, UNIX seconds
    seq: int


SCHEDULED, STARTED = "SCHEDULED", "STARTED"


class V2State:
    """Everything the fake PortOne V2 remembers, guarded by one lock.

    The config is an immutable object swapped under the lock, so the hot path can read
    `state.config` without locking.
    """

    def __init__(
        self,
        secret: str,
        store_id: str,
        clock: Clock,
        *,
        latency_ms: int = 0,
        webhook_url: str | None = None,
    ) -> None:
        self.clock = clock
        self.store_id = store_id
        self.tokens = Tokens(secret, clock)
        self.idempotency = Idempotency(clock)
        self._default_config = Config(latency_ms=latency_ms, webhook_url=webhook_url)
        self.config = self._default_config
        # Reentrant: `atomic()` holds it around several of the calls below (check, then act).
        self._lock = threading.RLock()
        self._schedules: dict[str, _Schedule] = {}
        self._notice_urls: dict[str, list[str]] = {}  # paymentId -> the charge's noticeUrls
        # Set when the scheduler must look again (a schedule added or revoked, the clock moved).
        self.schedules_changed = threading.Event()
        # Held by an execution; a reset waits for it (`Fake.paused`).
        self.execution_lock = threading.Lock()
        self._keys: dict[str, _BillingKey] = {}
        self._payments: dict[str, list[dict[str, Any]]] = {}  # paymentId -> attempts, oldest first
        self._attempt_seq: dict[str, int] = {}  # transactionId -> order of creation
        self._seq = 0

    def reset(self) -> None:
        """Forget keys, payments, tokens, idempotency keys; restore start-up config."""
        with self._lock:
            self.config = self._default_config
            self._keys.clear()
            self._payments.clear()
            self._attempt_seq.clear()
            self._schedules.clear()
            self._notice_urls.clear()
        self.schedules_changed.set()
        self.tokens.reset()
        self.idempotency.reset()

    def now(self) -> int:
        return self.clock.now()

    def precise_now(self) -> float:
        return self.clock.precise_now()

    def atomic(self) -> AbstractContextManager[object]:
        """Hold the state's lock around a check and the change it allows."""
        return self._lock

    def update_config(self, changes: dict[str, Any]) -> Config:
        """Apply already-validated changes and return the new config."""
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            return self.config

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # --- billing keys ---

    def add_key(
        self, info: dict[str, Any], charge: str, notice_urls: list[str] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            key = _BillingKey(info, charge, self._next_seq(), list(notice_urls or ()))
            self._keys[info["billingKey"]] = key
            return copy.deepcopy(info)

    def key_notice_urls(self, billing_key: str) -> list[str]:
        with self._lock:
            key = self._keys.get(billing_key)
            return list(key.notice_urls) if key is not None else []

    def get_key(self, billing_key: str) -> tuple[dict[str, Any], str] | None:
        """(a copy of the key's info, its charge behaviour), or None."""
        with self._lock:
            key = self._keys.get(billing_key)
            return (copy.deepcopy(key.info), key.charge) if key is not None else None

    def update_key(
        self, billing_key: str, change: Callable[[dict[str, Any] | None], R]
    ) -> tuple[R, dict[str, Any] | None]:
        """Run `change` on the live info (None when unknown) under the lock; (its result, a
        copy of the info)."""
        with self._lock:
            key = self._keys.get(billing_key)
            result = change(key.info if key is not None else None)
            return result, copy.deepcopy(key.info) if key is not None else None

    def keys(self) -> list[tuple[int, dict[str, Any]]]:
        """Every billing key's (issue order, a copy of its info)."""
        with self._lock:
            return [(key.seq, copy.deepcopy(key.info)) for key in self._keys.values()]

    # --- payments ---

    def _taken(self, payment_id: str, blocks_retry: bool) -> bool:
        attempts = self._payments.get(payment_id, [])
        paid = any(attempt["status"] in PAID_STATUSES for attempt in attempts)
        return paid or (blocks_retry and bool(attempts))

    def payment_id_taken(self, payment_id: str, blocks_retry: bool) -> bool:
        """True when a new charge with this paymentId is refused (409 ALREADY_PAID): a paid
        attempt has it, or any attempt when `blocks_retry`."""
        with self._lock:
            return self._taken(payment_id, blocks_retry)

    def add_attempt(
        self,
        payment_id: str,
        build: Callable[[], dict[str, Any]],
        blocks_retry: bool,
    ) -> dict[str, Any] | None:
        """Store `build()` as the paymentId's newest attempt, unless the paymentId is taken
        (then None): by a paid attempt, or by any attempt when `blocks_retry`.

        Check and insert happen under one lock: two concurrent charges of one paymentId cannot
        both be paid.
        """
        with self._lock:
            if self._taken(payment_id, blocks_retry):
                return None
            attempt = build()
            self._payments.setdefault(payment_id, []).append(attempt)
            self._attempt_seq[attempt["transactionId"]] = self._next_seq()
            return copy.deepcopy(attempt)

    def latest(self, payment_id: str) -> dict[str, Any] | None:
        """A copy of the paymentId's newest attempt (what `GET /payments/{paymentId}` shows)."""
        with self._lock:
            attempts = self._payments.get(payment_id)
            return copy.deepcopy(attempts[-1]) if attempts else None

    def update_latest(
        self, payment_id: str, change: Callable[[dict[str, Any] | None], R]
    ) -> tuple[R, dict[str, Any] | None]:
        """Run `change` on the live newest attempt (None when none) under the lock; (its
        result, a copy of the attempt)."""
        with self._lock:
            attempts = self._payments.get(payment_id)
            live = attempts[-1] if attempts else None
            result = change(live)
            return result, copy.deepcopy(live) if live is not None else None

    def attempts(self, every: bool) -> Iterable[tuple[int, dict[str, Any]]]:
        """(creation order, a copy) of every attempt, or of each paymentId's newest only."""
        with self._lock:
            chosen = [
                attempt
                for attempts in self._payments.values()
                for attempt in (attempts if every else attempts[-1:])
            ]
            return [(self._attempt_seq[a["transactionId"]], copy.deepcopy(a)) for a in chosen]

    # --- noticeUrls (beside the payment: not a Payment field) ---

    def set_notice_urls(self, payment_id: str, urls: list[str] | None) -> None:
        with self._lock:
            if urls:
                self._notice_urls[payment_id] = list(urls)

    def notice_urls(self, payment_id: str) -> list[str]:
        with self._lock:
            return list(self._notice_urls.get(payment_id, ()))

    # --- payment schedules ---

    def add_schedule(self, info: dict[str, Any], payment: dict[str, Any], due: float) -> None:
        with self._lock:
            self._schedules[info["id"]] = _Schedule(info, payment, due, self._next_seq())
        self.schedules_changed.set()

    def schedule(self, schedule_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._schedules.get(schedule_id)
            return copy.deepcopy(found.info) if found is not None else None

    def schedules(self) -> list[tuple[int, dict[str, Any]]]:
        """Every schedule's (creation order, a copy of its info)."""
        with self._lock:
            return [(found.seq, copy.deepcopy(found.info)) for found in self._schedules.values()]

    def update_schedule(self, schedule_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Run `change` on the live info under the lock (nothing when unknown)."""
        with self._lock:
            found = self._schedules.get(schedule_id)
            if found is not None:
                change(found.info)
        self.schedules_changed.set()

    def scheduled_payment(self, payment_id: str) -> bool:
        """True when a SCHEDULED schedule will charge this paymentId."""
        with self._lock:
            return any(
                found.info["paymentId"] == payment_id and found.info["status"] == SCHEDULED
                for found in self._schedules.values()
            )

    def live_schedules_on_key(self, billing_key: str) -> bool:
        """True when the key has a schedule not yet run (SCHEDULED or STARTED)."""
        with self._lock:
            return any(
                found.info["billingKey"] == billing_key
                and found.info["status"] in (SCHEDULED, STARTED)
                for found in self._schedules.values()
            )

    def claim_due(
        self, now: int, started: Callable[[dict[str, Any]], None]
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Mark every SCHEDULED schedule due at `now` STARTED (`started` changes its info);
        (a copy of its info, its payment input), by timeToPay then creation."""
        with self._lock:
            due = sorted(
                (
                    found
                    for found in self._schedules.values()
                    if found.info["status"] == SCHEDULED and found.due <= now
                ),
                key=lambda found: (found.due, found.seq),
            )
            for found in due:
                started(found.info)
            return [(copy.deepcopy(found.info), copy.deepcopy(found.payment)) for found in due]

    def next_due_at(self) -> float | None:
        with self._lock:
            times = [
                found.due for found in self._schedules.values() if found.info["status"] == SCHEDULED
            ]
            return min(times) if times else None
