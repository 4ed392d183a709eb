"""I'mport's schedules: schedule charges of a key, look them up, list and revoke them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ..exceptions import (
    DuplicateMerchantUid,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    ProviderError,
    ScheduleNotFound,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    ScheduleRefused,
    UnexpectedResponse,
)
from ..models import Schedule, ScheduledCharge, ScheduleResult
from ..outcomes import DUPLICATE_MESSAGE, HOLDS_MERCHANT_UID
from .parsing import parse_schedule, parse_schedules
from .payments import PaymentCalls
from .session import segment

# How far ahead charges may be scheduled: far enough for a yearly plan, and short enough that a
# key's pending schedules are found in a few of I'mport's 90-day windows before it is deleted.
SCHEDULE_HORIZON = timedelta(days=366)
SCHEDULE_WINDOW = timedelta(days=90)
# Pages of a schedule listing followed at most (I'mport pages them by 20 by default).
MAX_SCHEDULE_PAGES = 10


class ScheduleCalls(PaymentCalls):
    """Schedule, look up, list and revoke scheduled charges; a refusal is explained by asking
    about the payments and the key."""

    def schedule_charges(
        self,
        customer_uid: str,
        charges: Sequence[ScheduledCharge],
        *,
        channel_key: str | None = None,
    ) -> ScheduleResult:
        """Schedule charges of a key (``POST /subscribe/payments/schedule``), never twice.

        A refusal is explained by asking I'mport, as for charges: every merchant_uid already
        scheduled as asked, for this customer, is this request retried (``replayed``); one
        already used is DuplicateMerchantUid; an unknown key UnknownBillingKeyRefusal and
        anything else ScheduleRefused, both with I'mport's words. A lost answer is looked up,
        never sent again.

        Raises those, ScheduleOutcomeUnknown, or another GatewayError.
        """
        body = {
            "customer_uid": customer_uid,
            "schedules": [charge.as_body() for charge in charges],
            **self._channel(channel_key),
        }
        try:
            data = self._call("schedule", "POST", "/subscribe/payments/schedule", body)
        except ProviderError as exc:
            if exc.http_status is None or (exc.http_status >= 300 and exc.http_status != 400):
                raise
            return self._explain_refused_schedule(customer_uid, charges, exc)
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            try:
                found = self._scheduled_as_asked(customer_uid, charges)
            except GatewayError as lookup:
                raise ScheduleOutcomeUnknown(_SCHEDULE_UNKNOWN) from lookup
            if found is None:
                raise ScheduleOutcomeUnknown(_SCHEDULE_UNKNOWN) from exc
            return ScheduleResult(found, reconciled=True)
        return ScheduleResult(parse_schedules(data))

    def get_schedule(self, merchant_uid: str) -> Schedule:
        """Look up a schedule (``GET /subscribe/payments/schedule/{merchant_uid}``).

        Raises ScheduleNotFound, or another GatewayError.
        """
        path = f"/subscribe/payments/schedule/{segment(merchant_uid)}"
        try:
            return parse_schedule(self._call("get_schedule", "GET", path))
        except ProviderError as exc:  # the spec and the observed client tests: 404
            if exc.http_status == 404 or (exc.http_status is not None and exc.http_status < 300):
                raise ScheduleNotFound(
                    exc.message, http_status=exc.http_status, code=exc.code
                ) from exc
            raise

    def list_schedules(
        self,
        customer_uid: str,
        start: datetime,
        end: datetime,
        status: str | None = None,
        *,
        max_pages: int = MAX_SCHEDULE_PAGES,
    ) -> tuple[list[Schedule], bool]:
        """A customer's schedules between ``start`` and ``end`` (at most 90 days apart, I'mport's
        limit), following I'mport's pages up to ``max_pages``; and whether all were read.

        Calls ``GET /subscribe/payments/schedule/customers/{customer_uid}``.
        """
        path = f"/subscribe/payments/schedule/customers/{segment(customer_uid)}"
        params = {"from": str(int(start.timestamp())), "to": str(int(end.timestamp()))}
        if status is not None:
            params["schedule-status"] = status  # sic: a hyphen
        schedules: list[Schedule] = []
        for page in range(1, max_pages + 1):
            try:
                data = self._call(
                    "list_schedules", "GET", path, params={**params, "page": str(page)}
                )
            except ProviderError as exc:
                if exc.http_status == 404:  # a customer with none
                    return schedules, True
                raise
            items = data.get("list") if isinstance(data, dict) else None
            schedules.extend(parse_schedules(items))
            if not data.get("next"):
                return schedules, True
        return schedules, False

    def pending_schedules(self, customer_uid: str) -> list[Schedule]:
        """The customer's schedules still to run, from now to SCHEDULE_HORIZON ahead (the
        service refuses to schedule further), in windows of I'mport's 90-day limit."""
        pending: list[Schedule] = []
        start = datetime.now(UTC)
        end = start + SCHEDULE_HORIZON
        while start < end:
            stop = min(start + SCHEDULE_WINDOW, end)
            found, _ = self.list_schedules(customer_uid, start, stop, "scheduled")
            pending.extend(found)
            start = stop
        return pending

    def revoke_schedule(self, merchant_uid: str) -> Schedule:
        """Revoke one scheduled charge (``POST /subscribe/payments/unschedule``).

        Raises ScheduleNotFound, ScheduleNotRevocable (executed or revoked already), or
        another GatewayError.
        """
        try:
            data = self._call(
                "revoke_schedules",
                "POST",
                "/subscribe/payments/unschedule",
                {"merchant_uid": [merchant_uid]},
            )
        except ProviderError as exc:
            if exc.http_status is None or exc.http_status >= 300:
                raise
            schedule = self.get_schedule(merchant_uid)  # raises ScheduleNotFound
            raise ScheduleNotRevocable(
                f"The schedule is {schedule.schedule_status}: nothing is left to revoke."
            ) from exc
        [revoked] = parse_schedules(data) or [self.get_schedule(merchant_uid)]
        return revoked

    def revoke_customer_schedules(self, customer_uid: str) -> list[Schedule]:
        """Revoke every scheduled charge of a customer; [] when none was pending."""
        try:
            data = self._call(
                "revoke_schedules",
                "POST",
                "/subscribe/payments/unschedule",
                {"customer_uid": customer_uid},
            )
        except ProviderError as exc:  # 200 + code 1: nothing to revoke
            if exc.http_status is not None and exc.http_status < 300:
                return []
            raise
        return parse_schedules(data)

    def _explain_refused_schedule(
        self, customer_uid: str, charges: Sequence[ScheduledCharge], refusal: ProviderError
    ) -> ScheduleResult:
        found = self._scheduled_as_asked(customer_uid, charges)
        if found is not None:
            return ScheduleResult(found, replayed=True)
        for charge in charges:
            earlier = self.find_payment(charge.merchant_uid)
            if earlier is not None and earlier.status in HOLDS_MERCHANT_UID:
                raise DuplicateMerchantUid(DUPLICATE_MESSAGE) from refusal
            try:
                self.get_schedule(charge.merchant_uid)
            except ScheduleNotFound:
                continue
            raise DuplicateMerchantUid(DUPLICATE_MESSAGE) from refusal
        self._refuse_if_no_key(customer_uid, refusal)
        raise ScheduleRefused(
            refusal.message, http_status=refusal.http_status, code=refusal.code
        ) from refusal

    def _scheduled_as_asked(
        self, customer_uid: str, charges: Sequence[ScheduledCharge]
    ) -> list[Schedule] | None:
        """The schedules, if every charge is scheduled as asked; else None."""
        found = []
        for charge in charges:
            try:
                schedule = self.get_schedule(charge.merchant_uid)
            except ScheduleNotFound:
                return None
            as_asked = (
                schedule.customer_uid == customer_uid
                and schedule.amount == charge.amount
                and int(schedule.schedule_at.timestamp()) == int(charge.schedule_at.timestamp())
            )
            if not as_asked:
                return None
            found.append(schedule)
        return found


_SCHEDULE_UNKNOWN = (
    "The schedule was sent but its outcome is unknown; retry with the same merchant_uids."
)
