"""The notice I'mport posts, and the answer it gets."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from ...api.fields import UID, RequestSchema, constant


class NoticeSchema(RequestSchema):
    """I'mport V1's notice: a hint, checked against I'mport before anything is done."""

    class Meta:
        # I'mport may add fields to its notices at any time (its compatibility policy).
        unknown = ma.EXCLUDE

    imp_uid = ma.fields.String(
        required=True,
        validate=[validate.Length(1, 80), UID],
        metadata={"example": "imps_410026135413"},
    )
    merchant_uid = ma.fields.String(
        validate=[validate.Length(1, 80), UID], metadata={"example": "order_20270101_0001"}
    )
    status = ma.fields.String(
        validate=validate.OneOf(["ready", "paid", "failed", "cancelled"]),
        metadata={"example": "paid"},
    )
    cancellation_id = ma.fields.String(
        validate=validate.Length(max=80),
        metadata={
            "description": "With a cancel's notice: which cancel of the payment it is about.",
            "example": "2b5ef5d8b1a3c0f2e6d4",
        },
    )


class NoticeAnswerSchema(ma.Schema):
    status = ma.fields.Constant("received", required=True, metadata=constant("received"))
