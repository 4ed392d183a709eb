"""Payment events for internal services: made only from what I'mport says, one per change.

Whatever taught the service of a change (its own charge or cancel answer, a reconciliation,
an I'mport notice verified by fetching the payment, a schedule looked up because its notice
never came), the event is built from the payment as I'mport reported it, and keyed by the
change itself (the payment, its status, what was cancelled): the same change learned twice
makes one event, one older than the outbox remembers events (an answer replayed, a notice
resent, after that) makes none, and a stale notice cannot roll a payment back, since only the
payment's current state is ever sent. Each event carries that state and when it was verified.

I'mport's notices are hints: a notice is acted on only when I'mport, asked, agrees with it, and
only for a payment made with a billing key (I'mport notifies browser checkouts too, even under a
merchant_uid a failed charge of ours once used) whose change is recent enough for the outbox to
still hold its dedup key. One that cannot be verified now (I'mport unreachable) is kept in the
outbox as a job and verified on the events' retry schedule; scheduled charges are looked up a
while after they were due, so a missing notice loses nothing. Every charge and cancel is
followed up the same way: before it is sent, a lookup is kept in the outbox, due a while later
and repeated on the retry schedule while the payment is ``ready``, so a pending charge, an
unknown outcome nobody retried and a request that died after I'mport answered all still get
their event. Each of these follow-ups is a job of the outbox, of its own kind
(``VERIFY_NOTICE``, ``RECONCILE_SCHEDULE``, ``FOLLOW_UP``), which ``handlers`` run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import extensions
from ..events import EventConsumer
from ..events.outbox import DEDUP_TTL_S, Delivery, Outbox
from ..gateway import (
    GatewayError,
    Payment,
    PaymentGateway,
    PaymentNotFound,
    ScheduledCharge,
    ScheduleNotFound,
)
from ..gateway.outcomes import charged_to, failed_before, notice_agrees
from ..state import StateUnavailable
from .reissuance import DELETE_REPLACED_KEYS, replaced_keys_job
from .schemas import PaymentSchema

logger = logging.getLogger("billing_service.events")

# The kinds of the outbox's jobs the publisher keeps and runs.
VERIFY_NOTICE = "verify-notice"
RECONCILE_SCHEDULE = "reconcile-schedule"
FOLLOW_UP = "follow-up"
# A change is told (whatever taught the service of it: a notice, a replayed answer, a lookup)
# only while the outbox still remembers its event (the event's dedup key lives DEDUP_TTL_S from
# when it was made, never before the change), less a day for the skew between I'mport's clock
# and ours.
NOTICE_MAX_AGE_S = DEDUP_TTL_S - 24 * 3600


class EventPublisher:
    """Publishes the service's events into an outbox, and runs its follow-up jobs; one per app."""

    def __init__(
        self,
        outbox: Outbox,
        urls: Sequence[str],
        client: PaymentGateway,
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
        """The handler of each kind of job the publisher keeps, for the consumer."""
        return {
            VERIFY_NOTICE: self._verify_later,
            RECONCILE_SCHEDULE: self._reconcile_schedule,
            FOLLOW_UP: self._follow_up,
            DELETE_REPLACED_KEYS: replaced_keys_job(self._client, self._tell),
        }

    def payment_changed(
        self, payment: Payment, *, source: str, cancellation_id: str | None = None
    ) -> str | None:
        """Send the event of the payment's current state (None: no event, or already sent);
        ``cancellation_id``: the cancel the event is about (a notice's), else the latest.
        A change older than the outbox remembers its event is logged, never sent again."""
        change = _change_of(payment, cancellation_id)
        if change is None or self._stale(change, payment.imp_uid, source):
            return None
        data: dict[str, Any] = {
            "payment": PaymentSchema().dump(payment),
            "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": source,
        }
        event_id = self.outbox.add(change.event_type, data, self.urls, dedup_key=change.key)
        if event_id is not None and not self.urls:
            # No subscriber: the event is logged (ids and statuses only), as make run shows.
            logger.info(
                "event %s (no subscriber)", change.event_type, extra={"fields": _summary(payment)}
            )
        self._wake()
        return event_id

    def notice(
        self,
        imp_uid: str,
        merchant_uid: str | None,
        status: str | None,
        cancellation_id: str | None = None,
    ) -> str:
        """Act on an I'mport notice after asking I'mport; the outcome, for the audit trail:
        ``verified``, ``deferred`` (I'mport unreachable: kept, verified later), ``unknown``
        (no such payment), ``mismatch`` (I'mport says otherwise), ``not_billing_key`` (a
        payment this service does not make, a browser checkout's) or ``stale`` (a change older
        than the outbox remembers its event: acting on it could send that event again)."""
        if status != "cancelled":
            cancellation_id = None  # only a cancel notice names a cancel
        try:
            payment = self._client.get_payment(imp_uid)
        except PaymentNotFound:
            return "unknown"
        except GatewayError:
            return self.verify_later(imp_uid, merchant_uid, status, cancellation_id)
        if not notice_agrees(payment, merchant_uid, status, cancellation_id):
            return "mismatch"
        return self.verified(payment, cancellation_id)

    def verify_later(
        self,
        imp_uid: str,
        merchant_uid: str | None,
        status: str | None,
        cancellation_id: str | None,
    ) -> str:
        """Keep a notice the provider cannot confirm now, to verify on the events' retry
        schedule (as ``notice``); ``deferred``. Raises StateUnavailable."""
        body = dict(imp_uid=imp_uid, merchant_uid=merchant_uid, status=status)
        body["cancellation_id"] = cancellation_id
        # Each cancel's notice is kept apart: a second cancel is not the first's resend.
        key = f"notice:{imp_uid}:{merchant_uid}:{status}"
        key = f"{key}:{cancellation_id}" if cancellation_id else key
        self.outbox.add_job(VERIFY_NOTICE, body, dedup_key=key)
        self._wake()
        return "deferred"

    def verified(self, payment: Payment, cancellation_id: str | None = None) -> str:
        """Act on the payment a notice (or a PortOne V2 webhook) named, as the provider showed
        it: its event if it is a billing-key payment of ours and its change recent enough; the
        outcome, as ``notice``'s (``verified``, ``not_billing_key``, ``mismatch``, ``stale``).
        Raises StateUnavailable when whose key it was cannot be read now."""
        if (issued_here := self._client.issued_here(payment)) is None:
            raise StateUnavailable("Whether the payment's key is ours could not be read.")
        if not issued_here:  # a browser checkout's, or (V2) a key another integration issued
            logger.info("Notice of a payment not on a key of ours ignored: %s", payment.imp_uid)
            return "not_billing_key"
        if not self._schedule_agrees(payment):
            return "mismatch"
        change = _change_of(payment, cancellation_id)
        if change is not None and self._stale(change, payment.imp_uid, "notice"):
            return "stale"
        self.payment_changed(payment, source="notice", cancellation_id=cancellation_id)
        return "verified"

    def watch_schedules(self, schedules: Sequence[ScheduledCharge]) -> None:
        """Keep a lookup of each schedule about to be sent, due a while after it is, in case
        its notice never comes (one I'mport refused is not found then, and the lookup ends).
        Raises StateUnavailable: then nothing may be sent, as for follow_up."""
        for schedule in schedules:
            due = schedule.schedule_at.timestamp() + self._reconcile_after
            self.outbox.add_job(
                RECONCILE_SCHEDULE,
                {"merchant_uid": schedule.merchant_uid},
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
        again: bool = False,
    ) -> None:
        """Keep a lookup of the charge of ``merchant_uid`` to ``customer_uid`` (or the cancel
        of ``imp_uid`` sent against ``balance``) about to be sent, due ``recheck_after`` s from
        now; ``again``: an earlier attempt of the order is remembered. Raises
        StateUnavailable: then nothing may be sent, since a request that died afterwards would
        leave its event untold."""
        now = self._clock()
        if merchant_uid is not None:
            target: dict[str, Any] = {"merchant_uid": merchant_uid, "customer_uid": customer_uid}
            dedup_key = f"follow-up:charge:{merchant_uid}:{int(now)}"
            if again:  # its own: a first attempt's of the same second ends at that one's decline
                target["again"], dedup_key = True, f"{dedup_key}:again"
        else:
            target = {"imp_uid": imp_uid, "balance": balance}
            dedup_key = f"follow-up:cancel:{imp_uid}:{int(now)}"
        self.outbox.add_job(
            FOLLOW_UP,
            # By then the request is over: what it would have made is there, or never will be.
            {**target, "kept_at": now, "over_at": now + self._request_lasts},
            # Attempts of one order in the same second share one lookup.
            dedup_key=dedup_key,
            due_at=now + self._recheck_after,
        )

    def delete_replaced_keys(self, customer_uid: str, keep: str) -> None:
        """Keep the deletion of the keys issued before ``keep`` (PortOne V2 issues a new key
        each time, and ``keep`` is the one just issued), run at once and retried on the events'
        schedule until PortOne has none left. Raises StateUnavailable."""
        self.outbox.add_job(
            DELETE_REPLACED_KEYS,
            {"customer_uid": customer_uid, "keep": keep},
            dedup_key=f"replaced-keys:{customer_uid}:{keep}",
        )
        self._wake()

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
                not charged_to(payment, target["customer_uid"])
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
        # After an earlier attempt, a decline may be that one's (whatever its stamp: I'mport's are
        # whole seconds): told, but this charge's own outcome is awaited until it is over.
        return over if payment.status == "failed" and target.get("again") else True

    def _verify_later(self, delivery: Delivery) -> bool:
        notice = json.loads(delivery.body)["data"]
        outcome = self.notice(
            notice["imp_uid"],
            notice["merchant_uid"],
            notice["status"],
            notice.get("cancellation_id"),  # absent from notices kept by earlier versions
        )
        return outcome != "deferred"

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

    def _stale(self, change: _Change, imp_uid: str, source: str) -> bool:
        """Whether the change is older than the outbox remembers its event (a replayed
        answer, a late notice or lookup): sending it could send that event again."""
        if not change.older_than(self._clock() - NOTICE_MAX_AGE_S):
            return False
        logger.warning(
            "No event (%s): the %s of payment %s happened at %s, before the %d days for which "
            "its event is sent only once",
            source,
            change.event_type,
            imp_uid,
            change.happened_at,
            NOTICE_MAX_AGE_S // 86400,
        )
        return True

    def _tell(self, event_type: str, data: dict[str, Any], dedup_key: str) -> None:
        """Send an event that is no payment's change (a schedule a re-issuance could not move)."""
        self.outbox.add(event_type, data, self.urls, dedup_key=dedup_key)
        self._wake()

    def _wake(self) -> None:
        if self.consumer is not None:
            self.consumer.wake()


@dataclass(frozen=True)
class _Change:
    """One change of a payment: its event's type, the outbox's dedup key, and when I'mport says
    it happened (None when I'mport does not say)."""

    event_type: str
    key: str
    happened_at: datetime | None

    def older_than(self, moment: float) -> bool:
        return self.happened_at is not None and self.happened_at.timestamp() < moment


def _change_of(payment: Payment, cancellation_id: str | None = None) -> _Change | None:
    """The change a payment's state shows (None while it is ready): the cancel that
    ``cancellation_id`` names, else the latest one, else its payment or failure.

    A cancel is keyed by the amount cancelled once it was done, which names it as well as its
    id does (each cancel adds to it) and is what an API cancel's answer shows.
    """
    scheduled = payment.customer_uid_usage == "payment.scheduled"
    uid = payment.imp_uid
    if payment.cancel_amount > 0:
        cancelled, at = payment.cancel_amount, payment.cancelled_at
        done = 0
        for entry in payment.cancel_history:
            done += entry.amount
            if cancellation_id is not None and entry.cancellation_id == cancellation_id:
                cancelled, at = done, entry.cancelled_at
                break
        if cancelled >= payment.amount:
            return _Change("payment.cancelled", f"{uid}:cancelled", at)
        return _Change("payment.partially_cancelled", f"{uid}:cancelled:{cancelled}", at)
    if payment.status == "paid":
        event_type = "schedule.executed" if scheduled else "payment.paid"
        return _Change(event_type, f"{uid}:paid", payment.paid_at)
    if payment.status == "failed":
        event_type = "schedule.failed" if scheduled else "payment.failed"
        return _Change(event_type, f"{uid}:failed", payment.failed_at)
    return None


def _summary(payment: Payment) -> dict[str, Any]:
    return {
        "imp_uid": payment.imp_uid,
        "merchant_uid": payment.merchant_uid,
        "customer_uid": payment.customer_uid,
        "payment_status": payment.status,
        "cancel_amount": payment.cancel_amount,
    }


def event_publisher() -> EventPublisher:
    """The app's events."""
    return extensions.shared().events


def publish_payment(payment: Payment, *, source: str) -> None:
    """Send the event of a payment the service just learned of; an outbox that cannot be
    written is logged, never turned into an error: the answer, money moved, stands, and the
    follow-up kept before the charge or cancel was sent tells the change later."""
    try:
        event_publisher().payment_changed(payment, source=source)
    except Exception:
        logger.exception("The event of payment %s could not be kept", payment.imp_uid)
