"""A re-issuance's move of a customer's schedules to its new key (V1 callers expect schedules to
stay with the ``customer_uid`` and charge the new card; V2 ties each to a key).

One schedule at a time: revoke it, then schedule it again with the same paymentId, time and
payment on the new key. The schedule being moved is kept in the directory (a slot per schedule,
so that moves of two re-issuances close together never overwrite each other's) before it is
revoked, then with the ``revokedAt`` PortOne answered, so a move that dies between the two is
finished by the next move of the customer's schedules, which lists the old keys' revoked
schedules too: only one still revoked by that very revocation is scheduled again (one revoked
by the caller, before or after, stays revoked). The host runs the move as a recorded job, before
deleting the replaced keys (a key that still has schedules is not deleted).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..exceptions import KeyNotRemembered, RequestOutstanding
from ..models import MoveResult, Schedule
from .answer import Refusal
from .parsing import issued_to, key_channel, parse_schedule, schedule_id
from .payments import OUTSTANDING_MESSAGE
from .schedules import TAKEN, ScheduleCalls, rfc3339
from .session import segment

logger = logging.getLogger(__name__)

NOT_KEPT = "The schedule to move could not be recorded; the move is retried."
# A schedule's slot before its revoke's answer is kept (after: the answer's ``revokedAt``).
REVOKING = "revoking"


class MoveCalls(ScheduleCalls):
    """Move a customer's schedules from the keys a re-issuance replaced to its new one."""

    def move_schedules(self, customer_uid: str, keep: str) -> MoveResult:
        """Move every schedule still to run of the keys of ``customer_uid`` issued before
        ``keep`` (the billingKey just issued) to ``keep``, soonest first; stop at the first one
        PortOne refuses to schedule again (``refused``: revoked, it will not run; the rest stay
        on their key). Nothing when ``keep`` is no longer the customer's (a later issuance's
        move takes them). Raises a GatewayError when it must be run again (it resumes)."""
        target = self._key_info(keep)
        if target is None or not issued_to(target, customer_uid):
            return MoveResult()
        channel = key_channel(target).get("key") or self._channel_key
        moved: list[Schedule] = []
        for old_key in self._older_keys(customer_uid, keep, target):
            # The revoked ones too: one a move revoked and died before scheduling again (its
            # slot kept) is finished here, whichever re-issuance's move revoked it.
            for record in self.pending_of(old_key, ("SCHEDULED", "REVOKED")):
                if record.get("status") == "REVOKED":
                    outcome = self._resumed(customer_uid, record, keep, channel)
                else:
                    outcome = self._moved(customer_uid, record, keep, channel)
                if isinstance(outcome, MoveResult):
                    return MoveResult(moved + outcome.moved, outcome.refused, outcome.reason)
                if outcome is not None:
                    moved.append(outcome)
        return MoveResult(moved)

    def _moved(
        self, customer_uid: str, record: Mapping[str, Any], keep: str, channel: str | None
    ) -> Schedule | MoveResult | None:
        """Revoke the schedule ``record`` and schedule it again on ``keep`` (see
        ``_schedule_again``); None when it ran or someone else revoked it first."""
        sid = schedule_id(record)
        if not self._directory.keep_moving_schedule(customer_uid, sid, REVOKING):
            raise KeyNotRemembered(NOT_KEPT)
        revoked_at = self._revoke_own(sid)
        if revoked_at is None:
            self._directory.drop_moving_schedule(customer_uid, sid, REVOKING)
            return None
        # Kept with PortOne's time of this revocation: a resumed move undoes only it, never a
        # revocation by the caller (a failed keep leaves REVOKING, never undone).
        slot = revoked_at if revoked_at else REVOKING
        if not self._directory.keep_moving_schedule(customer_uid, sid, slot):
            slot = REVOKING
        when = revoked_at or rfc3339(datetime.now(UTC))
        outcome = self._schedule_again(
            {**record, "status": "REVOKED", "revokedAt": when}, keep, channel
        )
        self._directory.drop_moving_schedule(customer_uid, sid, slot)
        return outcome

    def _revoke_own(self, sid: str) -> str | None:
        """Revoke the schedule ``sid``: when PortOne revoked it (``revokedAt``, "" if it did not
        say), or None when it was no longer scheduled (ran, or revoked by someone else: not this
        move's to schedule again)."""
        try:
            data = self._delete_with_body(
                "revoke_schedules", "/payment-schedules", {"scheduleIds": [sid]}
            )
        except Refusal as exc:
            if exc.http_status in (404, 409):
                return None
            raise
        answered = data.get("revokedScheduleIds") if isinstance(data, Mapping) else None
        if isinstance(answered, list) and sid not in answered:
            return None
        at = data.get("revokedAt") if isinstance(data, Mapping) else None
        return at if isinstance(at, str) else ""

    def _resumed(
        self, customer_uid: str, record: Mapping[str, Any], keep: str, channel: str | None
    ) -> Schedule | MoveResult | None:
        """Finish the move of the revoked schedule ``record`` if a move left it half done:
        schedule it again only if it is still revoked by that move's own revocation (the
        ``revokedAt`` kept) and its paymentId has no later schedule; the schedule on ``keep``
        if an earlier run made it; else None (nothing of a move's to undo)."""
        sid = schedule_id(record)
        saved = self._directory.moving_schedule(customer_uid, sid)
        if saved is None:
            return None
        outcome: Schedule | MoveResult | None = None
        if saved == REVOKING:
            # Its revoke's answer was not kept (lost, or not kept): whose revocation it is
            # cannot be told, and a caller's must stand.
            logger.warning(
                "A schedule of %s revoked by an interrupted move is not scheduled again: %s",
                customer_uid,
                sid,
            )
        elif _same_time(record.get("revokedAt"), saved):
            latest = self._find_schedule(str(record.get("paymentId")))
            if latest is None or schedule_id(latest) == sid:
                outcome = self._schedule_again(record, keep, channel)
            elif latest.get("billingKey") == keep and latest.get("status") == "SCHEDULED":
                outcome = parse_schedule(latest)  # moved by the earlier run
            # else scheduled again since: that one's fate is not this move's
        self._directory.drop_moving_schedule(customer_uid, sid, saved)
        return outcome

    def _schedule_again(
        self, record: Mapping[str, Any], keep: str, channel: str | None
    ) -> Schedule | MoveResult:
        """Schedule a revoked schedule again on ``keep``: the new schedule, or the move's end
        (a MoveResult naming it refused) when PortOne refuses."""
        payment_id = str(record.get("paymentId"))
        body = {"payment": moved_payment(record, keep, channel), "timeToPay": record["timeToPay"]}
        try:
            data = self._move("move_schedule", f"/payments/{segment(payment_id)}/schedule", body)
        except Refusal as exc:
            if exc.error_type == "IDEMPOTENCY_OUTSTANDING_REQUEST":
                raise RequestOutstanding(OUTSTANDING_MESSAGE, http_status=409) from exc
            existing = self._find_schedule(payment_id) if exc.error_type in TAKEN else None
            if existing is not None and existing.get("billingKey") == keep:
                return parse_schedule(existing)  # moved by an earlier run of this move
            return MoveResult(refused=parse_schedule(record), reason=exc.words)
        sid = schedule_id(data.get("schedule"))
        self._directory.keep_schedule_id(payment_id, sid)
        return parse_schedule({**record, "id": sid, "billingKey": keep, "status": "SCHEDULED"})


def _same_time(read: Any, saved: str) -> bool:
    """Whether ``read`` (a record's ``revokedAt``) is the instant ``saved`` (RFC 3339 texts,
    which may differ in form)."""
    if not isinstance(read, str):
        return False
    try:
        return datetime.fromisoformat(read) == datetime.fromisoformat(saved)
    except ValueError:
        return read == saved


def moved_payment(record: Mapping[str, Any], keep: str, channel: str | None) -> dict[str, Any]:
    """The ``payment`` of a schedule (a ``PaymentSchedule``'s fields, in the input's shapes) on
    the key ``keep``: what was scheduled, charged to the new card."""
    amount = {"total": record.get("totalAmount")}
    for field, name in (("taxFreeAmount", "taxFree"), ("vatAmount", "vat")):
        if record.get(field) is not None:
            amount[name] = record[field]
    payment: dict[str, Any] = {
        "billingKey": keep,
        "orderName": record.get("orderName"),
        "amount": amount,
        "currency": record.get("currency"),
        "customer": _customer_input(record.get("customer")),
    }
    if channel:
        payment["channelKey"] = channel
    for field in ("customData", "installmentMonth", "noticeUrls", "products"):
        if record.get(field):
            payment[field] = record[field]
    return payment


def _customer_input(customer: Any) -> dict[str, Any]:
    """A ``Customer`` as read (``name`` a string, ``address`` one of two forms) in the shape a
    payment takes (``name.full``, ``address.addressLine1/2``)."""
    if not isinstance(customer, Mapping):
        return {}
    given: dict[str, Any] = {
        field: customer[field]
        for field in ("id", "email", "phoneNumber", "zipcode")
        if customer.get(field)
    }
    if isinstance(customer.get("name"), str) and customer["name"]:
        given["name"] = {"full": customer["name"]}
    address = customer.get("address")
    if isinstance(address, Mapping):
        line1 = address.get("addressLine1") or address.get("oneLine")
        if line1:
            given["address"] = {
                "addressLine1": line1,
                "addressLine2": address.get("addressLine2") or "",
            }
    return given
