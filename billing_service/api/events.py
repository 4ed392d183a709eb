"""Payment events for internal services: made only from what I'mport says, one per change.

Whatever taught the service of a change (its own charge or cancel answer, a reconciliation,
an I'mport notice verified by fetching the payment, a schedule looked up because its notice
never came), the event is built from the payment as I'mport reported it, and keyed by the
change itself (the payment, its status, what was cancelled): the same change learned twice
makes one event, and a stale notice cannot roll a payment back, since only the payment's
current state is ever sent. Each event carries that state and when it was verified.

I'mport's notices are hints: a notice is acted on only when I'mport, asked, agrees with it. One
that cannot be verified now (I'mport unreachable) is kept in the outbox as an internal delivery
and verified on the events' retry schedule; scheduled charges are looked up a while after they
were due, so a missing notice loses nothing. Every charge and cancel is followed up the same
way: before it is sent, a lookup is kept in the outbox, due a while later and repeated on the
retry schedule while the payment is ``ready``, so a pending charge, an unknown outcome nobody
retried and a request that died after I'mport answered all still get their event.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from ..events import EventConsumer
from ..gateway import (
    GatewayError,
    IamportClient,
    Payment,
    PaymentNotFound,
    Schedule,
    ScheduleNotFound,
)
from ..gateway.outcomes import failed_before
from ..state.outbox import Delivery, Outbox
from .schemas import PaymentSchema

logger = logging.getLogger("billing_service.events")

VERIFY_NOTICE = "internal:verify-notice"
RECONCILE_SCHEDULE = "internal:reconcile-schedule"
FOLLOW_UP = "internal:follow-up"
# A retry of a scheduled charge's lookup while I'mport still shows it scheduled (a slow PG).
_SCHEDULED = "internal: still scheduled"


class PaymentEvents:
    """The service's events, over an outbox; one per app."""

    def __init__(
        self,
        outbox: Outbox,
        urls: Sequence[str],
        client: IamportClient,
        *,
        reconcile_after: float,
        recheck_after: float,
        request_lasts: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.urls = tuple(urls)
        self._client = client
        self._reconcile_after = reconcile_after
        self._recheck_after = recheck_after
        self._request_lasts = request_lasts
        self._clock = clock
        self.consumer: EventConsumer | None = None

    @property
    def handlers(self) -> Mapping[str, Callable[[Delivery], bool]]:
        """The internal deliveries the consumer runs instead of sending them."""
        return {
            VERIFY_NOTICE: self._verify_later,
            RECONCILE_SCHEDULE: self._reconcile_schedule,
            FOLLOW_UP: self._follow_up,
        }

    def payment_changed(self, payment: Payment, *, source: str) -> str | None:
        """Send the event of the payment's current state (None: no event, or already sent)."""
        kind = _event_of(payment)
        if kind is None:
            return None
        event_type, change = kind
        data: dict[str, Any] = {
            "payment": PaymentSchema().dump(payment),
            "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": source,
        }
        event_id = self.outbox.add(event_type, data, self.urls, dedup_key=change)
        if event_id is not None and not self.urls:
            # No subscriber: the event is logged (ids and statuses only), as make run shows.
            logger.info("event %s (no subscriber)", event_type, extra={"fields": _summary(payment)})
        self._wake()
        return event_id

    def notice(self, imp_uid: str, merchant_uid: str | None, status: str | None) -> str:
        """Act on an I'mport notice after asking I'mport; the outcome, for the audit trail:
        ``verified``, ``deferred`` (I'mport unreachable: kept, verified later), ``unknown``
        (no such payment) or ``mismatch`` (I'mport says otherwise)."""
        try:
            payment = self._client.get_payment(imp_uid)
        except PaymentNotFound:
            return "unknown"
        except GatewayError:
            body = {"imp_uid": imp_uid, "merchant_uid": merchant_uid, "status": status}
            self.outbox.add(
                "internal.notice",
                body,
                (VERIFY_NOTICE,),
                dedup_key=f"notice:{imp_uid}:{merchant_uid}:{status}",
            )
            self._wake()
            return "deferred"
        if not _agrees(payment, merchant_uid, status) or not self._schedule_agrees(payment):
            return "mismatch"
        self.payment_changed(payment, source="notice")
        return "verified"

    def watch_schedules(self, schedules: Sequence[Schedule]) -> None:
        """Look each schedule up a while after it is due, in case its notice never comes."""
        for schedule in schedules:
            due = schedule.schedule_at.timestamp() + self._reconcile_after
            self.outbox.add(
                "internal.schedule",
                {"merchant_uid": schedule.merchant_uid},
                (RECONCILE_SCHEDULE,),
                dedup_key=f"schedule:{schedule.merchant_uid}:{int(due)}",
                due_at=due,
            )

    def follow_up(
        self,
        *,
        merchant_uid: str | None = None,
        customer_uid: str | None = None,
        imp_uid: str | None = None,
        balance: int | None = None,
    ) -> None:
        """Keep a lookup of the charge of ``merchant_uid`` to ``customer_uid`` (or the cancel
        of ``imp_uid`` sent against ``balance``) about to be sent, due ``recheck_after`` s from
        now. Raises StateUnavailable: then nothing may be sent, since a request that died
        afterwards would leave its event untold."""
        now = self._clock()
        if merchant_uid is not None:
            target: dict[str, Any] = {"merchant_uid": merchant_uid, "customer_uid": customer_uid}
            dedup_key = f"follow-up:charge:{merchant_uid}:{int(now)}"
        else:
            target = {"imp_uid": imp_uid, "balance": balance}
            dedup_key = f"follow-up:cancel:{imp_uid}:{int(now)}"
        self.outbox.add(
            "internal.follow-up",
            # By then the request is over: what it would have made is there, or never will be.
            {**target, "kept_at": now, "over_at": now + self._request_lasts},
            (FOLLOW_UP,),
            # Attempts of one order in the same second share one lookup.
            dedup_key=dedup_key,
            due_at=now + self._recheck_after,
        )

    def _follow_up(self, delivery: Delivery) -> bool:
        """Look a charge or a cancel up: done once I'mport shows it made (its event is sent,
        once), or not made once the request is over; not yet while a charge is ``ready``, or
        I'mport cannot answer."""
        target = json.loads(delivery.body)["data"]
        over: bool = self._clock() >= target["over_at"]
        try:
            if "merchant_uid" in target:
                payment = self._client.find_payment(target["merchant_uid"])
            else:
                payment = self._client.get_payment(target["imp_uid"])
        except PaymentNotFound:
            payment = None
        except GatewayError:
            return False
        if (
            payment is not None
            and "merchant_uid" in target
            and (
                payment.customer_uid != target["customer_uid"]
                or failed_before(payment, target["kept_at"])
            )
        ):
            # Not this charge's: another payment of the merchant_uid (a browser checkout's), or
            # an earlier attempt's decline, told already.
            payment = None
        if payment is None:  # a charge refused before a payment was made, or not made yet
            return over
        if payment.status == "ready":
            return False
        if payment.balance == target.get("balance"):  # the cancel not made, or not yet
            return over
        self.payment_changed(payment, source="reconciliation")
        return True

    def _verify_later(self, delivery: Delivery) -> bool:
        notice = json.loads(delivery.body)["data"]
        return self.notice(notice["imp_uid"], notice["merchant_uid"], notice["status"]) != (
            "deferred"
        )

    def _reconcile_schedule(self, delivery: Delivery) -> bool:
        merchant_uid = json.loads(delivery.body)["data"]["merchant_uid"]
        try:
            schedule = self._client.get_schedule(merchant_uid)
        except ScheduleNotFound:
            return True
        if schedule.schedule_status != "executed" or schedule.imp_uid is None:
            return schedule.schedule_status == "revoked"  # still scheduled: look again later
        self.payment_changed(self._client.get_payment(schedule.imp_uid), source="reconciliation")
        return True

    def _schedule_agrees(self, payment: Payment) -> bool:
        """A scheduled execution must match the schedule the service made: same customer and
        amount (the notice's ids alone prove nothing)."""
        if payment.customer_uid_usage != "payment.scheduled":
            return True
        try:
            schedule = self._client.get_schedule(payment.merchant_uid)
        except ScheduleNotFound:
            return False
        return (schedule.customer_uid, schedule.amount) == (payment.customer_uid, payment.amount)

    def _wake(self) -> None:
        if self.consumer is not None:
            self.consumer.wake()


def _event_of(payment: Payment) -> tuple[str, str] | None:
    """(event type, the change's key) of a payment's state; None while it is ready."""
    scheduled = payment.customer_uid_usage == "payment.scheduled"
    uid = payment.imp_uid
    if payment.cancel_amount > 0:
        if payment.cancel_amount >= payment.amount:
            return "payment.cancelled", f"{uid}:cancelled"
        return "payment.partially_cancelled", f"{uid}:cancelled:{payment.cancel_amount}"
    if payment.status == "paid":
        return ("schedule.executed" if scheduled else "payment.paid"), f"{uid}:paid"
    if payment.status == "failed":
        return ("schedule.failed" if scheduled else "payment.failed"), f"{uid}:failed"
    return None


def _agrees(payment: Payment, merchant_uid: str | None, status: str | None) -> bool:
    if merchant_uid is not None and merchant_uid != payment.merchant_uid:
        return False
    if status == "cancelled":
        return payment.cancel_amount > 0
    return status == payment.status


def _summary(payment: Payment) -> dict[str, Any]:
    return {
        "imp_uid": payment.imp_uid,
        "merchant_uid": payment.merchant_uid,
        "customer_uid": payment.customer_uid,
        "payment_status": payment.status,
        "cancel_amount": payment.cancel_amount,
    }


def payment_events() -> PaymentEvents:
    """The app's events."""
    events: PaymentEvents = current_app.extensions["events"]
    return events


def publish_payment(payment: Payment, *, source: str) -> None:
    """Send the event of a payment the service just learned of; an outbox that cannot be
    written is logged, never turned into an error: the answer, money moved, stands, and the
    follow-up kept before the charge or cancel was sent tells the change later."""
    try:
        payment_events().payment_changed(payment, source=source)
    except Exception:
        logger.exception("The event of payment %s could not be kept", payment.imp_uid)


def watch_schedules(schedules: Sequence[Schedule]) -> None:
    try:
        payment_events().watch_schedules(schedules)
    except Exception:
        logger.exception("Schedules could not be watched for their outcome")
