"""Thread-safe in-memory state of the I'mport V1 fake: billing keys, payments, schedules, config
(its token in `tokens.py`, its time on the shared sandbox clock)."""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..clock import Clock
from .config import Config
from .tokens import DEFAULT_TOKEN_TTL, Tokens

# A merchant_uid with one of these is taken: a new charge with it is refused as a duplicate.
# `failed` (and `ready`) attempts do not block a retry with the same merchant_uid, unless the
# `failed_blocks_merchant_uid` switch is on.
SETTLED_STATUSES = frozenset({"paid", "cancelled"})

R = TypeVar("R")


@dataclasses.dataclass
class _Schedule:
    result: dict[str, Any]  # the ScheduleResult fields (payment_status is derived on output)
    notice_url: str | None  # where the execution's notice goes (None: the webhook_url)
    card_quota: int
    seq: int  # order of arrival, breaks ties between equal schedule_at
    claimed: bool = False  # being executed: no longer revocable, never executed twice


@dataclasses.dataclass(frozen=True)
class _BillingKey:
    annotation: dict[str, Any]  # the CustomerAnnotation answered by the API
    charge: str  # cards.CHARGE_*: how charges with this key end (the card itself is not kept)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _copy_payment(payment: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (payments nest cancel_history), so callers never share mutable state."""
    return {key: _copy(value) for key, value in payment.items()}


class SandboxState:
    """Everything the fake I'mport remembers, guarded by one lock.

    The config is an immutable object swapped under the lock, so the hot path can read
    `state.config` without locking.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        clock: Clock,
        *,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        latency_ms: int = 0,
        webhook_url: str | None = None,
    ) -> None:
        self.clock = clock
        self.tokens = Tokens(api_key, api_secret, clock, token_ttl)
        self._default_config = Config(latency_ms=latency_ms, webhook_url=webhook_url)
        self._lock = threading.Lock()
        # Set whenever the next due time may have changed (schedules added, clock moved, reset,
        # shutdown): wakes the scheduler thread, which otherwise sleeps until the next due time.
        self.schedules_changed = threading.Event()
        # Held while schedules are executed: the scheduler thread and a clock move never run
        # executions side by side, so a clock move answers only once what it made due is done.
        self.execution_lock = threading.Lock()
        self._schedules: dict[str, _Schedule] = {}  # by merchant_uid
        self._schedule_seq = 0
        self._notice_urls: dict[str, str] = {}  # imp_uid -> the notice_url of its charge
        self.config = self._default_config
        self._customers: dict[str, _BillingKey] = {}
        self._payments: dict[str, dict[str, Any]] = {}  # by imp_uid, in creation order
        self._payments_by_merchant: dict[str, list[str]] = {}  # merchant_uid -> imp_uids

    # --- lifecycle / clock ---

    def reset(self) -> None:
        """Forget keys, payments, tokens, schedules; restore start-up config (the shared parts,
        clock, faults and call log, are reset beside it)."""
        with self._lock:
            self.config = self._default_config
            self._customers.clear()
            self._payments.clear()
            self._payments_by_merchant.clear()
            self._schedules.clear()
            self._notice_urls.clear()
        self.tokens.reset()
        self.schedules_changed.set()

    def now(self) -> int:
        """Sandbox time in integer UNIX seconds."""
        return self.clock.now()

    def precise_now(self) -> float:
        """Sandbox time as a float (for waiting until a due time)."""
        return self.clock.precise_now()

    # --- billing keys ---

    def put_customer(
        self, customer_uid: str, fields: dict[str, Any], charge: str
    ) -> dict[str, Any]:
        """Store (or replace) a billing key; keep `inserted` of a replaced key, bump `updated`."""
        with self._lock:
            now = self.now()
            previous = self._customers.get(customer_uid)
            inserted = previous.annotation["inserted"] if previous else now
            annotation = {"customer_uid": customer_uid, **fields}
            annotation["inserted"] = inserted
            annotation["updated"] = now
            self._customers[customer_uid] = _BillingKey(annotation, charge)
            return dict(annotation)

    def get_customer(self, customer_uid: str) -> dict[str, Any] | None:
        """Return a copy of the stored annotation, or None."""
        with self._lock:
            key = self._customers.get(customer_uid)
            return dict(key.annotation) if key is not None else None

    def get_billing_key(self, customer_uid: str) -> tuple[dict[str, Any], str] | None:
        """Return (a copy of the annotation, its charge behaviour), or None."""
        with self._lock:
            key = self._customers.get(customer_uid)
            return (dict(key.annotation), key.charge) if key is not None else None

    def delete_customer(self, customer_uid: str) -> dict[str, Any] | None:
        """Remove a billing key and return what was deleted, or None (its payments stay)."""
        with self._lock:
            key = self._customers.pop(customer_uid, None)
            return key.annotation if key is not None else None

    # --- payments ---

    def _merchant_uid_taken(self, merchant_uid: str) -> bool:
        imp_uids = self._payments_by_merchant.get(merchant_uid, ())
        if self.config.failed_blocks_merchant_uid:
            return bool(imp_uids)  # any earlier attempt, even a failed or ready one
        payments = self._payments
        return any(payments[imp_uid]["status"] in SETTLED_STATUSES for imp_uid in imp_uids)

    def _latest_payment(self, merchant_uid: str, status: str | None) -> dict[str, Any] | None:
        for imp_uid in reversed(self._payments_by_merchant.get(merchant_uid, ())):
            payment = self._payments[imp_uid]
            if status is None or payment["status"] == status:
                return payment
        return None

    def merchant_uid_taken(self, merchant_uid: str) -> bool:
        """True when a new charge with this merchant_uid is a duplicate.

        That is: it has a paid or cancelled payment, or any payment at all when the
        `failed_blocks_merchant_uid` switch is on.
        """
        with self._lock:
            return self._merchant_uid_taken(merchant_uid)

    def add_payment(
        self,
        merchant_uid: str,
        build: Callable[[str], dict[str, Any]],
        *,
        notice_url: str | None = None,
        check_duplicate: bool = True,
    ) -> dict[str, Any] | None:
        """Store `build(new imp_uid)` unless the merchant_uid is taken (then None).

        Check and insert happen under one lock, so two concurrent charges with the same
        merchant_uid cannot both be paid. imp_uids are `imps_` + 12 random digits; with 10^12
        values a long benchmark would collide, so uniqueness is checked here. `notice_url` is
        kept beside the payment (not in it) for its later notices. A scheduled execution
        always records its attempt: `check_duplicate` False.
        """
        with self._lock:
            if check_duplicate and self._merchant_uid_taken(merchant_uid):
                return None
            imp_uid = f"imps_{secrets.randbelow(10**12):012d}"
            while imp_uid in self._payments:
                imp_uid = f"imps_{secrets.randbelow(10**12):012d}"
            payment = build(imp_uid)
            self._payments[imp_uid] = payment
            self._payments_by_merchant.setdefault(merchant_uid, []).append(imp_uid)
            if notice_url:
                self._notice_urls[imp_uid] = notice_url
            return _copy_payment(payment)

    def notice_url(self, imp_uid: str) -> str | None:
        """The notice_url sent with the charge (or schedule) that made this payment, if any."""
        with self._lock:
            return self._notice_urls.get(imp_uid)

    def get_payment(self, imp_uid: str) -> dict[str, Any] | None:
        """Return a copy of the payment, or None."""
        with self._lock:
            payment = self._payments.get(imp_uid)
            return _copy_payment(payment) if payment is not None else None

    def find_payment(self, merchant_uid: str, status: str | None = None) -> dict[str, Any] | None:
        """Return a copy of the latest payment of a merchant_uid (with that status), or None."""
        with self._lock:
            payment = self._latest_payment(merchant_uid, status)
            return _copy_payment(payment) if payment is not None else None

    def update_payment(
        self,
        imp_uid: str | None,
        merchant_uid: str | None,
        change: Callable[[dict[str, Any] | None], R],
    ) -> tuple[R, dict[str, Any] | None]:
        """Run `change` on the live payment (by imp_uid, else the merchant_uid's latest; None if
        unknown) under the lock; return its result and a copy of the payment afterwards."""
        with self._lock:
            if imp_uid is not None:
                payment = self._payments.get(imp_uid)
            else:
                payment = self._latest_payment(merchant_uid or "", None)
            result = change(payment)
            return result, (_copy_payment(payment) if payment is not None else None)

    # --- scheduled payments ---

    def _schedule_result(self, schedule: _Schedule) -> dict[str, Any]:
        """A copy of the ScheduleResult; `payment_status` follows the live payment (a paid
        execution that is cancelled later reads `cancelled`)."""
        result = dict(schedule.result)
        payment = self._payments.get(result["imp_uid"] or "")
        if payment is not None:
            result["payment_status"] = payment["status"]
        return result

    def _schedule_taken(self, merchant_uid: str) -> bool:
        # Any schedule (scheduled, executed or revoked) or a paid/cancelled payment takes it.
        return merchant_uid in self._schedules or self._merchant_uid_taken(merchant_uid)

    def schedule_taken(self, merchant_uids: list[str]) -> str | None:
        """The first of these merchant_uids that cannot be scheduled, or None."""
        with self._lock:
            return next((uid for uid in merchant_uids if self._schedule_taken(uid)), None)

    def add_schedules(
        self, schedules: list[tuple[dict[str, Any], str | None, int]]
    ) -> list[dict[str, Any]] | str:
        """Store every (result, notice_url, card_quota), or none: the first taken merchant_uid
        (as a string) when one is taken or repeated. Check and insert are under one lock."""
        with self._lock:
            seen: set[str] = set()
            for result, _, _ in schedules:
                merchant_uid = result["merchant_uid"]
                if merchant_uid in seen or self._schedule_taken(merchant_uid):
                    return str(merchant_uid)
                seen.add(merchant_uid)
            stored = []
            for result, notice_url, card_quota in schedules:
                self._schedule_seq += 1
                schedule = _Schedule(dict(result), notice_url, card_quota, self._schedule_seq)
                self._schedules[result["merchant_uid"]] = schedule
                stored.append(self._schedule_result(schedule))
        self.schedules_changed.set()
        return stored

    def get_schedule(self, merchant_uid: str) -> dict[str, Any] | None:
        with self._lock:
            schedule = self._schedules.get(merchant_uid)
            return self._schedule_result(schedule) if schedule is not None else None

    def customer_schedules(
        self, customer_uid: str, start: int, end: int, status: str | None
    ) -> list[dict[str, Any]]:
        """The customer's schedules with start <= schedule_at <= end, by schedule_at."""
        with self._lock:
            found = [
                schedule
                for schedule in self._schedules.values()
                if schedule.result["customer_uid"] == customer_uid
                and start <= schedule.result["schedule_at"] <= end
                and (status is None or schedule.result["schedule_status"] == status)
            ]
            found.sort(key=lambda schedule: (schedule.result["schedule_at"], schedule.seq))
            return [self._schedule_result(schedule) for schedule in found]

    def revoke_schedules(
        self, customer_uid: str | None, merchant_uids: list[str] | None, now: int
    ) -> list[dict[str, Any]]:
        """Revoke the `scheduled` (not yet executing) schedules matching both filters."""
        with self._lock:
            revoked = []
            for schedule in self._schedules.values():
                result = schedule.result
                if customer_uid is not None and result["customer_uid"] != customer_uid:
                    continue
                if merchant_uids is not None and result["merchant_uid"] not in merchant_uids:
                    continue
                if result["schedule_status"] != "scheduled" or schedule.claimed:
                    continue
                result["schedule_status"] = "revoked"
                result["revoked_at"] = now
                revoked.append(self._schedule_result(schedule))
        self.schedules_changed.set()
        return revoked

    def claim_due(self, now: int) -> list[tuple[dict[str, Any], str | None, int]]:
        """Take every schedule due at `now` for execution, in schedule_at order:
        [(a copy of its result, notice_url, card_quota)]. A claimed schedule is never claimed
        again nor revoked."""
        with self._lock:
            due = [
                schedule
                for schedule in self._schedules.values()
                if not schedule.claimed
                and schedule.result["schedule_status"] == "scheduled"
                and schedule.result["schedule_at"] <= now
            ]
            due.sort(key=lambda schedule: (schedule.result["schedule_at"], schedule.seq))
            for schedule in due:
                schedule.claimed = True
            return [(dict(s.result), s.notice_url, s.card_quota) for s in due]

    def finish_schedule(self, merchant_uid: str, payment: dict[str, Any], now: int) -> None:
        """Record the execution of a claimed schedule (gone after a reset: then nothing)."""
        with self._lock:
            schedule = self._schedules.get(merchant_uid)
            if schedule is None or not schedule.claimed:
                return
            schedule.result.update(
                imp_uid=payment["imp_uid"],
                executed_at=now,
                schedule_status="executed",
                payment_status=payment["status"],
                fail_reason=payment["fail_reason"],
            )

    def next_due_at(self) -> int | None:
        """The earliest schedule_at still waiting to execute, or None."""
        with self._lock:
            return min(
                (
                    schedule.result["schedule_at"]
                    for schedule in self._schedules.values()
                    if not schedule.claimed and schedule.result["schedule_status"] == "scheduled"
                ),
                default=None,
            )

    # --- config ---

    def update_config(self, changes: dict[str, Any]) -> Config:
        """Apply already-validated changes and return the new config."""
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            return self.config
