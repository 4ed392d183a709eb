"""PortOne V2's schedules behind V1's: one ``POST /payments/{paymentId}/schedule`` per charge
(``paymentId`` = ``merchant_uid``), all or nothing for the caller.

V2 addresses a schedule by its own id and cannot filter its schedules by ``paymentId``: the id
is kept in the directory, and a mapping lost is found by paging through the store's schedules
(an explicit far window: V2's default is the past 90 days), so a lost mapping never hides a
charge that will still run. A customer's schedules are listed key by key, over every key it has
had. Revoking is one ``DELETE /payment-schedules`` with the ids, which V2 does all or nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..exceptions import (
    DuplicateMerchantUid,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    ProviderError,
    RequestOutstanding,
    ScheduleNotFound,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    ScheduleRefused,
    UnexpectedResponse,
    UnknownBillingKeyRefusal,
)
from ..models import Schedule, ScheduledCharge, ScheduleResult
from ..outcomes import DUPLICATE_MESSAGE
from .answer import Refusal
from .cancels import CancelCalls
from .parsing import SCHEDULE_FILTERS, key_channel, key_id, parse_schedule, schedule_id
from .payments import OUTSTANDING_MESSAGE, order_body, refuse_currency
from .session import SEARCH_FROM, segment

# The far end of a window that must hold every schedule (V2's default ends now).
SEARCH_UNTIL = "2100-01-01T00:00:00Z"
PAGE_SIZE = 100
# Pages of the store's schedules read at most to find one by paymentId, and of a customer's
# listing (V1's route follows 10 pages and says when it stopped there).
MAX_SEARCH_PAGES = 100
MAX_LIST_PAGES = 10
_KEY_GONE = ("BILLING_KEY_NOT_FOUND", "BILLING_KEY_ALREADY_DELETED")
# The paymentId has a schedule (or a payment) already: this request's, resumed, or another's.
TAKEN = ("ALREADY_PAID_OR_WAITING", "PAYMENT_SCHEDULE_ALREADY_EXISTS")
SCHEDULE_UNKNOWN = (
    "The schedule was sent but its outcome is unknown; retry with the same Idempotency-Key "
    "(charges already scheduled as asked count as done)."
)


class _ItemRefused(Exception):
    """PortOne definitively refused one charge of a request: ``error`` is what the caller gets
    once the charges scheduled before it are revoked."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


class ScheduleCalls(CancelCalls):
    """Schedule, look up, list and revoke scheduled charges."""

    def schedule_charges(
        self,
        customer_uid: str,
        charges: Sequence[ScheduledCharge],
        *,
        channel_key: str | None = None,
    ) -> ScheduleResult:
        """Schedule each charge of the key of ``customer_uid``, one call each, in order (one
        at a time: a refusal of charge k then revokes exactly charges 1..k-1), all within one
        moving call's read timeout: a charge not sent by then is an unknown outcome.

        A charge already scheduled as asked (this request, resumed) counts as done
        (``replayed`` when all were); a definitive refusal revokes the others and raises
        DuplicateMerchantUid, UnknownBillingKeyRefusal or ScheduleRefused (naming a charge that
        ran meanwhile and could not be revoked); an unknown outcome raises
        ScheduleOutcomeUnknown and leaves what was scheduled for the retry to count.
        """
        for charge in charges:
            refuse_currency(charge)
        key = self._key_of(customer_uid)
        channel = channel_key or key_channel(key).get("key") or self._channel_key
        deadline = time.monotonic() + self._moving_timeout
        done: list[tuple[str, str]] = []  # (merchant_uid, schedule id)
        schedules, found, reconciled = [], 0, False
        for charge in charges:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ScheduleOutcomeUnknown(SCHEDULE_UNKNOWN)
            body = {
                "payment": order_body(charge, customer_uid, key_id(key), channel, self._notice_url),
                "timeToPay": rfc3339(charge.schedule_at),
            }
            try:
                record, how = self._schedule_one(customer_uid, charge, body, left)
            except _ItemRefused as refused:
                raise self._rolled_back(done, refused.error) from refused.error
            done.append((charge.merchant_uid, schedule_id(record)))
            schedules.append(parse_schedule(record))
            found += how is not None
            reconciled = reconciled or how == "reconciled"
        return ScheduleResult(
            schedules, replayed=found == len(charges) and not reconciled, reconciled=reconciled
        )

    def get_schedule(self, merchant_uid: str) -> Schedule:
        """The schedule of ``paymentId = merchant_uid`` (its latest); raise ScheduleNotFound."""
        record = self._find_schedule(merchant_uid)
        if record is None:
            raise ScheduleNotFound("There is no scheduled charge with this merchant_uid.")
        return self._schedule_of(record)

    def list_schedules(
        self,
        customer_uid: str,
        start: datetime,
        end: datetime,
        status: str | None = None,
    ) -> tuple[list[Schedule], bool]:
        """The schedules of every key ``customer_uid`` has had (deleted ones too) due between
        ``start`` and ``end``, by due time, and whether all were read (MAX_LIST_PAGES pages)."""
        window: dict[str, Any] = {"from": rfc3339(start), "until": rfc3339(end)}
        if status is not None:
            window["status"] = SCHEDULE_FILTERS[status]
        records: list[Mapping[str, Any]] = []
        pages = 0
        for info in self._keys_of(customer_uid, deleted=True):
            page, full = 0, True
            while full:
                if pages == MAX_LIST_PAGES:
                    return self._schedules_of(records, customer_uid), False
                items = self._schedule_page(page, {**window, "billingKey": key_id(info)})
                records.extend(items)
                pages, page, full = pages + 1, page + 1, len(items) == PAGE_SIZE
        return self._schedules_of(records, customer_uid), True

    def revoke_schedule(self, merchant_uid: str) -> Schedule:
        """Revoke the schedule of ``merchant_uid``; raise ScheduleNotFound, or
        ScheduleNotRevocable once it started, ran or was revoked."""
        record = self._find_schedule(merchant_uid)
        if record is None:
            raise ScheduleNotFound("There is no scheduled charge with this merchant_uid.")
        if record.get("status") != "SCHEDULED":
            status = self._schedule_of(record).schedule_status
            raise ScheduleNotRevocable(f"The schedule is {status}: nothing is left to revoke.")
        revoked, revoked_at = self._revoke_ids([schedule_id(record)])
        if not revoked:
            raise ScheduleNotRevocable("The schedule ran meanwhile: nothing is left to revoke.")
        return parse_schedule({**record, "status": "REVOKED", "revokedAt": revoked_at})

    def revoke_customer_schedules(self, customer_uid: str) -> list[Schedule]:
        """Revoke every schedule still to run of every key of ``customer_uid`` (a deleted key
        has none: PortOne refuses to delete one that has); [] when none was."""
        revoked: list[Schedule] = []
        for info in self._keys_of(customer_uid):
            pending = self.pending_of(key_id(info))
            if not pending:
                continue
            ids, revoked_at = self._revoke_ids([schedule_id(record) for record in pending])
            revoked.extend(
                parse_schedule({**record, "status": "REVOKED", "revokedAt": revoked_at})
                for record in pending
                if schedule_id(record) in ids
            )
        return revoked

    def pending_of(
        self, billing_key: str, statuses: Sequence[str] = ("SCHEDULED",)
    ) -> list[Mapping[str, Any]]:
        """The key's schedules not started yet (``SCHEDULED``; or in ``statuses``), every
        one, soonest first."""
        window = {
            "from": SEARCH_FROM,
            "until": SEARCH_UNTIL,
            "status": list(statuses),
            "billingKey": billing_key,
        }
        records: list[Mapping[str, Any]] = []
        for page in range(MAX_SEARCH_PAGES):
            items = self._schedule_page(page, window)
            records.extend(items)
            if len(items) < PAGE_SIZE:
                return records
        raise UnexpectedResponse("PortOne listed more schedules of a key than are followed.")

    def _schedule_one(
        self, customer_uid: str, charge: ScheduledCharge, body: Mapping[str, Any], left: float
    ) -> tuple[Mapping[str, Any], str | None]:
        """Schedule one charge; its record (what it was asked, with its id) and how it was
        found scheduled: None (just now), ``replayed`` or ``reconciled``."""
        path = f"/payments/{segment(charge.merchant_uid)}/schedule"
        timeout = min(self._moving_timeout, left)
        try:
            data = self._move("schedule", path, body, read_timeout=timeout)
        except Refusal as exc:
            return self._explain_refused_item(customer_uid, charge, exc), "replayed"
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            return self._scheduled_as_asked(customer_uid, charge, exc), "reconciled"
        made = data.get("schedule")
        record = {
            **body["payment"],
            "id": schedule_id(made),
            "status": "SCHEDULED",
            "paymentId": charge.merchant_uid,
            "totalAmount": charge.amount,
            "timeToPay": body["timeToPay"],
        }
        self._directory.keep_schedule_id(charge.merchant_uid, record["id"])
        return record, None

    def _explain_refused_item(
        self, customer_uid: str, charge: ScheduledCharge, refusal: Refusal
    ) -> Mapping[str, Any]:
        """What PortOne's refusal of one charge means: its schedule, made as asked by this
        request before (resumed), or the caller's error (``_ItemRefused``)."""
        kind = refusal.error_type
        if kind == "IDEMPOTENCY_OUTSTANDING_REQUEST":
            raise RequestOutstanding(OUTSTANDING_MESSAGE, http_status=409) from refusal
        if kind in _KEY_GONE:
            raise _ItemRefused(
                UnknownBillingKeyRefusal(refusal.message, http_status=refusal.http_status)
            )
        if kind not in TAKEN:
            raise _ItemRefused(ScheduleRefused(refusal.words, http_status=refusal.http_status))
        try:
            return self._scheduled_as_asked(customer_uid, charge, refusal)
        except ScheduleOutcomeUnknown as exc:
            if exc.__cause__ is refusal:  # read: another schedule, or a paid payment
                raise _ItemRefused(
                    DuplicateMerchantUid(DUPLICATE_MESSAGE, http_status=409)
                ) from refusal
            raise

    def _scheduled_as_asked(
        self, customer_uid: str, charge: ScheduledCharge, cause: GatewayError
    ) -> Mapping[str, Any]:
        """The charge's schedule if PortOne has it as asked (not revoked, this customer's, the
        amount and the time); else ScheduleOutcomeUnknown from ``cause`` (or from the lookup
        that failed)."""
        try:
            record = self._find_schedule(charge.merchant_uid)
        except GatewayError as exc:
            raise ScheduleOutcomeUnknown(SCHEDULE_UNKNOWN) from exc
        if record is not None and as_asked(record, customer_uid, charge):
            return record
        raise ScheduleOutcomeUnknown(SCHEDULE_UNKNOWN) from cause

    def _rolled_back(self, done: list[tuple[str, str]], error: GatewayError) -> GatewayError:
        """Revoke the charges this request scheduled before ``error`` and return ``error`` to
        raise (naming any that ran meanwhile); ScheduleOutcomeUnknown if they could not be."""
        if not done:
            return error
        try:
            revoked, _ = self._revoke_ids([sid for _, sid in done])
        except GatewayError as exc:
            unknown = ScheduleOutcomeUnknown(SCHEDULE_UNKNOWN)
            unknown.__cause__ = exc
            return unknown
        ran = [uid for uid, sid in done if sid not in revoked]
        if ran:
            error.message = (
                f"{error.message} The charges scheduled before it were revoked but "
                f"{', '.join(ran)}, which had run already."
            )
            error.args = (error.message,)
        return error

    def _revoke_ids(self, ids: list[str]) -> tuple[set[str], str]:
        """Revoke the schedules ``ids`` (V2: all or nothing); when PortOne refuses because one
        ran or was revoked meanwhile, revoke those still scheduled. The ids revoked (now or
        before), and when."""
        try:
            data = self._delete_with_body(
                "revoke_schedules", "/payment-schedules", {"scheduleIds": ids}
            )
        except Refusal as exc:
            if exc.error_type == "PAYMENT_SCHEDULE_NOT_FOUND":
                raise ScheduleNotFound(exc.message, http_status=404) from exc
            if exc.http_status != 409:
                raise
            records = {sid: self._schedule_record(sid) for sid in ids}
            left = [sid for sid, r in records.items() if r and r.get("status") == "SCHEDULED"]
            gone = {sid for sid, r in records.items() if r and r.get("status") == "REVOKED"}
            if not left:
                return gone, _now()
            if len(left) == len(ids):  # nothing moved since: PortOne's refusal stands
                raise
            revoked, revoked_at = self._revoke_ids(left)
            return revoked | gone, revoked_at
        answered = data.get("revokedScheduleIds")
        revoked = set(answered) if isinstance(answered, list) else set(ids)
        at = data.get("revokedAt")
        return revoked, at if isinstance(at, str) and at else _now()

    def _find_schedule(self, payment_id: str) -> Mapping[str, Any] | None:
        """The latest schedule of ``paymentId``: the remembered one, else the newest of the
        store's schedules with that paymentId (remembered from then on); None when none."""
        remembered = self._directory.schedule_id(payment_id)
        if remembered is not None:
            record = self._schedule_record(remembered)
            if record is not None and record.get("paymentId") == payment_id:
                return record
        for page in range(MAX_SEARCH_PAGES):
            items = self._schedule_page(
                page, {"from": SEARCH_FROM, "until": SEARCH_UNTIL}, by="CREATED_AT", order="DESC"
            )
            for item in items:
                if item.get("paymentId") == payment_id:
                    self._directory.keep_schedule_id(payment_id, schedule_id(item))
                    return item
            if len(items) < PAGE_SIZE:
                return None
        # Never "not found" for a schedule that may still run: an error the caller retries.
        raise UnexpectedResponse("PortOne has more schedules than are searched by merchant_uid.")

    def _schedule_record(self, sid: str) -> Mapping[str, Any] | None:
        """``GET /payment-schedules/{id}``, None when PortOne has no such schedule."""
        try:
            data = self._look_up("get_schedule", f"/payment-schedules/{segment(sid)}")
        except ProviderError as exc:
            if exc.http_status == 404:
                return None
            raise
        return data if isinstance(data, Mapping) else None

    def _schedule_page(
        self, page: int, window: Mapping[str, Any], *, by: str = "TIME_TO_PAY", order: str = "ASC"
    ) -> list[Mapping[str, Any]]:
        items = self._search(
            "find_schedules",
            "/payment-schedules",
            {
                "page": {"number": page, "size": PAGE_SIZE},
                "sort": {"by": by, "order": order},
                "filter": window,
            },
        )
        return [item for item in items if isinstance(item, Mapping)]

    def _schedules_of(self, records: list[Mapping[str, Any]], customer_uid: str) -> list[Schedule]:
        # One per merchant_uid, as in V1: a schedule moved to a re-issued key is the one shown,
        # not the one revoked on the old key (RFC 3339 in UTC: the latest sorts last; in the same
        # second, the one not revoked).
        latest: dict[str, Mapping[str, Any]] = {}
        for record in sorted(records, key=_creation):
            latest[str(record.get("paymentId"))] = record
        schedules = [self._schedule_of(r) for r in latest.values()]
        # A listing that ignored a filter must not show another customer's schedules.
        return sorted(
            (s for s in schedules if s.customer_uid == customer_uid), key=lambda s: s.schedule_at
        )

    def _schedule_of(self, record: Mapping[str, Any]) -> Schedule:
        """A record as V1's schedule; one that ran with its payment's status and id."""
        schedule = parse_schedule(record)
        if schedule.schedule_status != "executed":
            return schedule
        return parse_schedule(record, self.find_payment(schedule.merchant_uid))


def as_asked(record: Mapping[str, Any], customer_uid: str, charge: ScheduledCharge) -> bool:
    """Whether a schedule is this charge, as asked (whatever has become of it since, but
    revoked)."""
    schedule = parse_schedule(record)
    return (
        schedule.schedule_status != "revoked"
        and schedule.customer_uid == customer_uid
        and schedule.amount == charge.amount
        and int(schedule.schedule_at.timestamp()) == int(charge.schedule_at.timestamp())
    )


def _creation(record: Mapping[str, Any]) -> tuple[str, bool]:
    return str(record.get("createdAt")), record.get("status") != "REVOKED"


def rfc3339(moment: datetime) -> str:
    """V2's timestamps: RFC 3339 in UTC, ``...Z``, to the second (V1's precision)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return rfc3339(datetime.now(UTC))
