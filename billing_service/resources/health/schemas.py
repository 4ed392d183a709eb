"""Response schemas of the health endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from ...api.fields import constant


class HealthSchema(ma.Schema):
    status = ma.fields.Constant("ok", required=True, metadata=constant("ok"))


class CheckSchema(ma.Schema):
    status = ma.fields.String(
        required=True,
        validate=validate.OneOf(["ok", "degraded", "failing", "unknown"]),
        metadata={
            "description": "`degraded`: reported, still ready (not this instance's fault); "
            "`failing`: not ready; `unknown`: not checked yet."
        },
    )
    message = ma.fields.String(allow_none=True, metadata={"description": "What was found."})


class ReadySchema(ma.Schema):
    status = ma.fields.Constant("ready", required=True, metadata=constant("ready"))
    checks = ma.fields.Dict(
        keys=ma.fields.String(
            validate=validate.OneOf(["iamport", "state_store", "event_consumer"])
        ),
        values=ma.fields.Nested(CheckSchema),
        required=True,
        metadata={"description": "What each background check of this worker last found."},
    )
