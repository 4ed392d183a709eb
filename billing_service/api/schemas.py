"""Response schemas that more than one resource answers with, error bodies included: a payment
is in a charge's answer, a lookup's, a cancel's, and a declined charge's error."""

from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import validate


def provider_field(what: str) -> ma.fields.String:
    """The ``provider`` of an answer: which PortOne API ``what`` (made it, keeps it)."""
    return ma.fields.String(
        required=True,
        validate=validate.OneOf(["iamport_v1", "portone_v2"]),
        metadata={
            "description": f"The PortOne API that {what}: "
            "`iamport_v1` (I'mport) or `portone_v2` (`BILLING_PROVIDER`)."
        },
    )


class CancellationSchema(ma.Schema):
    amount = ma.fields.Integer(required=True)
    cancelled_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    reason = ma.fields.String(allow_none=True)


class PaymentSchema(ma.Schema):
    """A payment at PortOne; the card number is masked."""

    imp_uid = ma.fields.String(required=True, metadata={"example": "imps_410026135413"})
    merchant_uid = ma.fields.String(required=True)
    customer_uid = ma.fields.String(allow_none=True)
    status = ma.fields.String(
        required=True,
        validate=validate.OneOf(["ready", "paid", "failed", "cancelled"]),
        metadata={"description": "A partly cancelled payment stays paid; see cancel_amount."},
    )
    amount = ma.fields.Integer(required=True)
    cancel_amount = ma.fields.Integer(required=True)
    currency = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    paid_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    failed_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    cancelled_at = ma.fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    fail_reason = ma.fields.String(allow_none=True)
    card_name = ma.fields.String(allow_none=True)
    card_number = ma.fields.String(allow_none=True, metadata={"description": "Masked."})
    apply_num = ma.fields.String(allow_none=True, metadata={"description": "Approval number."})
    receipt_url = ma.fields.String(allow_none=True)
    pg_provider = ma.fields.String(allow_none=True)
    sandbox = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "PortOne's test-channel flag (V2: a `TEST` channel): true for a test "
            "payment, where no real money moved (every payment of the bundled sandbox); false "
            "for a real one."
        },
    )
    cancel_history = ma.fields.List(ma.fields.Nested(CancellationSchema), required=True)
    provider = provider_field("made the payment")
