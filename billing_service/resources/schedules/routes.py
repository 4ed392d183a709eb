"""Schedule endpoints: schedule a billing key's future charges, look them up, revoke them."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ...api import locks
from ...api.blueprint import (
    BODY_ERRORS,
    CALLER_ERRORS,
    GATEWAY_ERRORS,
    IDEMPOTENCY_ERRORS,
    REPLAYED,
    Blueprint,
)
from ...api.publisher import event_publisher
from ...extensions import gateway
from ...gateway import BillingKeyNotFound, Schedule, ScheduleNotFound
from ...security.callers import owns, requires
from .examples import (
    ALL_REVOKED_EXAMPLE,
    REVOKED_EXAMPLE,
    SCHEDULE_ANSWER_EXAMPLE,
    SCHEDULE_ERROR_EXAMPLES,
    SCHEDULE_LIST_EXAMPLE,
    SCHEDULE_REQUEST_EXAMPLE,
    SCHEDULED_EXAMPLE,
)
from .schemas import (
    ScheduleListSchema,
    ScheduleRequestSchema,
    ScheduleResponseSchema,
    SchedulesResponseSchema,
    ScheduleWindowQuerySchema,
)

blp = Blueprint(
    "schedules",
    __name__,
    url_prefix="/subscriptions",
    description="Scheduled charges: I'mport charges the key when each is due; the outcome comes "
    "as an I'mport notice, verified, then as a signed event to your services.",
)

ANSWERED_SCHEDULE = "$response.body#/schedules/0/merchant_uid"
SCHEDULE_LINKS = {
    "getSchedule": {"parameters": {"merchant_uid": ANSWERED_SCHEDULE}},
    "revokeSchedule": {"parameters": {"merchant_uid": ANSWERED_SCHEDULE}},
}


@blp.route("/schedules")
class Schedules(MethodView):
    @requires("schedule")
    @blp.operation("scheduleCharges", **SCHEDULE_LINKS)
    @blp.idempotent()
    @blp.body(
        ScheduleRequestSchema,
        example=SCHEDULE_REQUEST_EXAMPLE,
    )
    @blp.response(
        200,
        SchedulesResponseSchema,
        headers=REPLAYED,
        example=SCHEDULED_EXAMPLE,
    )
    @blp.errors(
        *CALLER_ERRORS,
        "billing_key_not_found",
        "duplicate_merchant_uid",
        "schedule_refused",
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
        *GATEWAY_ERRORS,
        examples=SCHEDULE_ERROR_EXAMPLES,
    )
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Schedule charges of a billing key

        Calls `POST /subscribe/payments/schedule` with each `schedule_at` as UNIX seconds.
        Safe to retry with the same body: merchant_uids already scheduled as asked are answered
        again (`replayed: true`), one used otherwise is 409 `duplicate_merchant_uid`. I'mport
        charges each when due and notifies `/webhooks/iamport`; the service verifies the notice
        and sends `schedule.executed` or `schedule.failed`; before anything is sent, a lookup
        of each is kept in the state store (503 `state_unavailable`, nothing sent, if it cannot
        be), so one whose notice never comes is still told. Scope `schedule`.
        """
        customer_uid = args["customer_uid"]
        if not owns(customer_uid):
            raise BillingKeyNotFound("There is no billing key under this customer_uid.")
        orders = sorted({locks.order(charge.merchant_uid) for charge in args["schedules"]})
        with locks.held(*orders):
            # Kept before anything is sent (StateUnavailable: 503, nothing sent), as a charge's
            # follow-up is: a request that dies or never learns I'mport's answer is looked up.
            event_publisher().watch_schedules(args["schedules"])
            result = gateway().schedule_charges(
                customer_uid, args["schedules"], channel_key=args.get("channel_key")
            )
        return {
            "schedules": result.schedules,
            "replayed": result.replayed,
            "reconciled": result.reconciled,
        }


@blp.route("/schedules/<id:merchant_uid>")
class SchedulesById(MethodView):
    @requires("read")
    @blp.operation("getSchedule", revokeSchedule=SCHEDULE_LINKS["revokeSchedule"])
    @blp.response(200, ScheduleResponseSchema, example=SCHEDULE_ANSWER_EXAMPLE)
    @blp.errors(*CALLER_ERRORS, "schedule_not_found", *GATEWAY_ERRORS)
    @blp.long_request_line
    def get(self, merchant_uid: str) -> dict[str, Any]:
        """Look up a scheduled charge

        Calls `GET /subscribe/payments/schedule/{merchant_uid}`: its `schedule_status`
        (`scheduled`, `executed`, `revoked`) and, once executed, `payment_status` and `imp_uid`.
        Scope `read`.
        """
        return {"schedule": _owned(gateway().get_schedule(merchant_uid))}

    @requires("schedule")
    @blp.operation("revokeSchedule", getSchedule=SCHEDULE_LINKS["getSchedule"])
    @blp.response(
        200,
        ScheduleResponseSchema,
        example=REVOKED_EXAMPLE,
    )
    @blp.errors(*CALLER_ERRORS, "schedule_not_found", "schedule_not_revocable", *GATEWAY_ERRORS)
    @blp.long_request_line
    def delete(self, merchant_uid: str) -> dict[str, Any]:
        """Revoke a scheduled charge

        Calls `POST /subscribe/payments/unschedule`. Once executed (or revoked), a schedule
        cannot be revoked: 409 `schedule_not_revocable`. Scope `schedule`.
        """
        _owned(gateway().get_schedule(merchant_uid))
        return {"schedule": gateway().revoke_schedule(merchant_uid)}


@blp.route("/billing-keys/<id:customer_uid>/schedules")
class BillingKeySchedules(MethodView):
    @requires("read")
    @blp.operation("listSchedules")
    @blp.arguments(ScheduleWindowQuerySchema(), location="query")
    @blp.response(
        200,
        ScheduleListSchema,
        example=SCHEDULE_LIST_EXAMPLE,
    )
    @blp.errors(*CALLER_ERRORS, "billing_key_not_found", "invalid_request", *GATEWAY_ERRORS)
    @blp.long_request_line
    def get(self, window: dict[str, Any], customer_uid: str) -> dict[str, Any]:
        """List a billing key's scheduled charges in a time window

        Calls `GET /subscribe/payments/schedule/customers/{customer_uid}` for `from` to `to`
        (ISO 8601 with an offset; default now to 90 days on, I'mport's widest window),
        optionally one `status`, and follows I'mport's pages, up to 10 (`complete: false`
        when it stopped there). Scope `read`.
        """
        if not owns(customer_uid):
            raise BillingKeyNotFound("There is no billing key under this customer_uid.")
        schedules, complete = gateway().list_schedules(
            customer_uid, window["start"], window["end"], window["status"]
        )
        return {"schedules": schedules, "complete": complete}

    @requires("schedule")
    @blp.operation("revokeSchedules")
    @blp.response(200, SchedulesResponseSchema, example=ALL_REVOKED_EXAMPLE)
    @blp.errors(*CALLER_ERRORS, "billing_key_not_found", *GATEWAY_ERRORS)
    @blp.long_request_line
    def delete(self, customer_uid: str) -> dict[str, Any]:
        """Revoke all of a billing key's scheduled charges

        Calls `POST /subscribe/payments/unschedule` with the `customer_uid`: every charge still
        `scheduled` is revoked (an empty list when there was none). Scope `schedule`.
        """
        if not owns(customer_uid):
            raise BillingKeyNotFound("There is no billing key under this customer_uid.")
        return {"schedules": gateway().revoke_customer_schedules(customer_uid)}


def _owned(schedule: Schedule) -> Schedule:
    if not owns(schedule.customer_uid):
        raise ScheduleNotFound("There is no scheduled charge with this merchant_uid.")
    return schedule
