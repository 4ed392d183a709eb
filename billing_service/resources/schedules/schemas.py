"""Request and response schemas of the schedule endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from ...api.fields import UID, QuerySchema, RequestSchema, Text, constant, not_a_card_number
from ...gateway import SCHEDULE_HORIZON, SCHEDULE_WINDOW, ScheduledCharge
from ..payments.schemas import CHANNEL_KEY, OrderSchema, order_fields

MAX_SCHEDULES = 100


class ScheduledChargeSchema(OrderSchema):
    """One future charge."""

    schedule_at = ma.fields.AwareDateTime(
        required=True,
        metadata={
            "description": "When to charge: ISO 8601 with an offset, in the future and at most "
            "366 days ahead (sent to I'mport as UNIX seconds).",
            "example": "2027-01-01T09:00:00+09:00",
        },
    )

    @ma.validates("schedule_at")
    def in_the_future(self, value: datetime, **kwargs: Any) -> None:
        now = datetime.now(UTC)
        if value <= now:
            raise ma.ValidationError("Must be in the future.")
        if value > now + SCHEDULE_HORIZON:
            raise ma.ValidationError("Must be at most 366 days ahead.")

    @ma.post_load
    def make_scheduled_charge(self, data: dict[str, Any], **kwargs: Any) -> ScheduledCharge:
        return ScheduledCharge(schedule_at=data["schedule_at"], **order_fields(data))


class ScheduleRequestSchema(RequestSchema):
    """Charges to schedule for one billing key."""

    customer_uid = ma.fields.String(
        required=True,
        validate=[validate.Length(1, 80), UID, not_a_card_number],
        metadata={"description": "The billing key to charge.", "example": "gildong_0001_1234"},
    )
    schedules = ma.fields.List(
        ma.fields.Nested(ScheduledChargeSchema),
        required=True,
        validate=validate.Length(1, MAX_SCHEDULES),
        metadata={"description": "1 to 100 charges, each with its own merchant_uid."},
    )
    channel_key = Text(validate=validate.Length(1, 55), metadata=CHANNEL_KEY)

    @ma.validates_schema
    def merchant_uids_unique(self, data: dict[str, Any], **kwargs: Any) -> None:
        uids = [charge.merchant_uid for charge in data.get("schedules", [])]
        if len(set(uids)) != len(uids):
            raise ma.ValidationError("Each schedule needs its own merchant_uid.", "schedules")


class ScheduleSchema(ma.Schema):
    """A scheduled charge as I'mport records it."""

    customer_uid = ma.fields.String(required=True)
    merchant_uid = ma.fields.String(required=True)
    imp_uid = ma.fields.String(allow_none=True, metadata={"description": "Once executed."})
    schedule_at = ma.fields.AwareDateTime(required=True, default_timezone=UTC)
    executed_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    revoked_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    amount = ma.fields.Integer(required=True)
    name = ma.fields.String(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    schedule_status = ma.fields.String(
        required=True, validate=validate.OneOf(["scheduled", "executed", "revoked"])
    )
    payment_status = ma.fields.String(
        allow_none=True,
        metadata={"description": "null until executed; then paid, failed or cancelled."},
    )
    fail_reason = ma.fields.String(allow_none=True)


class SchedulesResponseSchema(ma.Schema):
    """Answer carrying scheduled charges."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    schedules = ma.fields.List(ma.fields.Nested(ScheduleSchema), required=True)
    replayed = ma.fields.Boolean(
        metadata={"description": "True: these charges had been scheduled by this same request."}
    )
    reconciled = ma.fields.Boolean(
        metadata={"description": "True: I'mport's answer was lost; the schedules were found."}
    )


class ScheduleListSchema(ma.Schema):
    """A customer's scheduled charges in a time window."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    schedules = ma.fields.List(ma.fields.Nested(ScheduleSchema), required=True)
    complete = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "False: I'mport had more pages than the service follows (10 pages); "
            "narrow the window."
        },
    )


class ScheduleResponseSchema(ma.Schema):
    """Answer carrying one scheduled charge."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    schedule = ma.fields.Nested(ScheduleSchema, required=True)


class ScheduleWindowQuerySchema(QuerySchema):
    from_ = ma.fields.AwareDateTime(
        data_key="from",
        metadata={"description": "ISO 8601 with an offset; default now."},
    )
    to = ma.fields.AwareDateTime(
        metadata={"description": "ISO 8601 with an offset; default from + 90 days (at most)."}
    )
    status = ma.fields.String(validate=validate.OneOf(["scheduled", "executed", "revoked"]))

    @ma.post_load
    def window(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        start = data.get("from_") or datetime.now(UTC)
        end = data.get("to") or start + SCHEDULE_WINDOW
        if start.timestamp() < 0:  # I'mport counts in UNIX seconds
            raise ma.ValidationError("Must not be before 1970.", "from")
        if end <= start:
            raise ma.ValidationError("Must be after from.", "to")
        if end - start > SCHEDULE_WINDOW:
            raise ma.ValidationError("At most 90 days after from (I'mport's limit).", "to")
        return {"start": start, "end": end, "status": data.get("status")}
