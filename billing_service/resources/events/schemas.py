"""Schemas of the event endpoints."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import validate

from ...api.fields import QuerySchema, constant


class EventDeliverySchema(ma.Schema):
    """One event's delivery to one subscriber."""

    event_id = ma.fields.String(
        required=True, metadata={"description": "The webhook-id the subscriber sees."}
    )
    url = ma.fields.String(
        required=True,
        metadata={
            "description": "The subscriber, without the user info and query of its URL (they "
            "may hold its credentials).",
            "example": "https://orders.internal/billing-events",
        },
    )
    event_type = ma.fields.String(required=True, metadata={"example": "schedule.executed"})
    status = ma.fields.String(
        required=True, validate=validate.OneOf(["pending", "delivered", "failed"])
    )
    attempts = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True, default_timezone=UTC)
    next_attempt_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    delivered_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    last_error = ma.fields.String(
        allow_none=True, metadata={"description": "e.g. `HTTP 503`, `timeout`."}
    )


class EventListSchema(ma.Schema):
    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    events = ma.fields.List(ma.fields.Nested(EventDeliverySchema), required=True)


class EventQuerySchema(QuerySchema):
    status = ma.fields.String(
        validate=validate.OneOf(["pending", "delivered", "failed"]),
        metadata={"description": "Only these; `failed`: retries exhausted, re-send them."},
    )


class RedeliveredSchema(ma.Schema):
    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    redelivered = ma.fields.Integer(
        required=True, metadata={"description": "Failed deliveries queued again."}
    )
