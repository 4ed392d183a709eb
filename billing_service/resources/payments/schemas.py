"""Request and response schemas of the payment endpoints."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from ...api.fields import (
    UID,
    Pattern,
    RequestSchema,
    Text,
    WholeNumber,
    constant,
    email,
    not_a_card_number,
)
from ...api.schemas import PaymentSchema
from ...gateway import Charge

# KRW amounts; the cap only keeps absurd numbers away from I'mport.
MAX_AMOUNT = 999_999_999_999

# A webhook URL as I'mport can call it (punycode for international host names). The pattern is
# the whole rule, and the OpenAPI document gives no `format: uri`, so that the document and the
# validator cannot disagree (`format: uri` takes ftp: and IPv6; printable ASCII takes `<` or `|`).
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
NOTICE_URL_PATTERN = rf"^https?://{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?(?:[/?#][!-~]*)?$"

BUYER_FIELDS = ("buyer_name", "buyer_email", "buyer_tel", "buyer_addr", "buyer_postcode")


class OrderSchema(RequestSchema):
    """What a payment is for: the fields of a charge that a scheduled charge shares."""

    merchant_uid = ma.fields.String(
        required=True,
        validate=[validate.Length(1, 40), UID, not_a_card_number],
        metadata={
            "description": "Your order id, unique per payment. Retrying with the same "
            "merchant_uid never charges twice. A card number is refused (422).",
            "example": "order_20261127_0001",
        },
    )
    amount = WholeNumber(
        required=True,
        validate=validate.Range(1, MAX_AMOUNT),
        metadata={"description": "Amount to charge, in the currency's unit.", "example": 9900},
    )
    name = Text(
        required=True,
        validate=[validate.Length(1, 40), not_a_card_number],
        metadata={
            "description": "Order name shown to the card holder. A card number is refused (422).",
            "example": "월간 구독",
        },
    )
    currency = ma.fields.String(
        load_default="KRW",
        validate=Pattern("^[A-Z]{3}$", error="Must be a 3-letter currency code such as KRW."),
    )
    tax_free = WholeNumber(
        validate=validate.Range(0, MAX_AMOUNT),
        metadata={"description": "Tax-free part of the amount (0 to amount)."},
    )
    card_quota = WholeNumber(
        validate=validate.OneOf([0, *range(2, 13)]),
        metadata={"description": "Installment months: 0 (lump sum) or 2 to 12."},
    )
    # The buyer_* fields are stored with the request and sent to I'mport: no card number.
    buyer_name = Text(validate=[validate.Length(max=16), not_a_card_number])
    buyer_email = email(64)
    buyer_tel = Text(validate=[validate.Length(max=16), not_a_card_number])
    buyer_addr = Text(validate=[validate.Length(max=128), not_a_card_number])
    buyer_postcode = Text(validate=[validate.Length(max=8), not_a_card_number])
    custom_data = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "Any JSON object; stored with the payment at PortOne."},
    )

    @ma.validates_schema
    def tax_free_within_amount(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("tax_free", 0) > data.get("amount", MAX_AMOUNT):
            raise ma.ValidationError("Must not exceed amount.", "tax_free")


def order_fields(data: dict[str, Any]) -> dict[str, Any]:
    """An OrderSchema's loaded fields, as the gateway's Order takes them."""
    return {
        "merchant_uid": data["merchant_uid"],
        "amount": data["amount"],
        "name": data["name"],
        "currency": data["currency"],
        "tax_free": data.get("tax_free"),
        "card_quota": data.get("card_quota"),
        "buyer": {k: data[k] for k in BUYER_FIELDS if k in data},
        "custom_data": data.get("custom_data"),
    }


CHANNEL_KEY = {
    "description": "The PortOne console channel to use, instead of IAMPORT_CHANNEL_KEY "
    "(V2: PORTONE_CHANNEL_KEY).",
}


class ChargeSchema(OrderSchema):
    """A charge of a billing key."""

    customer_uid = ma.fields.String(
        required=True,
        validate=[validate.Length(1, 80), UID, not_a_card_number],
        metadata={"description": "The billing key to charge.", "example": "gildong_0001_1234"},
    )
    notice_url = ma.fields.String(
        validate=[
            validate.Length(max=200),
            Pattern(NOTICE_URL_PATTERN, error="Must be an http:// or https:// URL."),
        ],
        metadata={
            "description": "Webhook URL for this payment, instead of the console's: http or "
            "https, an ASCII host name or IPv4 address, an optional port, then printable ASCII.",
            "pattern": NOTICE_URL_PATTERN,
        },
    )

    channel_key = Text(validate=validate.Length(1, 55), metadata=CHANNEL_KEY)

    @ma.post_load
    def make_charge(self, data: dict[str, Any], **kwargs: Any) -> Charge:
        return Charge(
            customer_uid=data["customer_uid"],
            notice_url=data.get("notice_url"),
            channel_key=data.get("channel_key"),
            **order_fields(data),
        )


class CancelSchema(RequestSchema):
    """A cancellation, whole or partial."""

    reason = Text(
        required=True,
        validate=[validate.Length(1, 200), not_a_card_number],
        metadata={
            "description": "Why the payment is cancelled. A card number is refused (422).",
            "example": "고객 요청에 의한 환불",
        },
    )
    amount = WholeNumber(
        validate=validate.Range(1, MAX_AMOUNT),
        metadata={"description": "Amount to cancel; omit it to cancel all that is left."},
    )


class ChargeResponseSchema(ma.Schema):
    """Answer to a paid charge."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    payment = ma.fields.Nested(PaymentSchema, required=True)
    replayed = ma.fields.Boolean(
        required=True,
        metadata={"description": "True: this merchant_uid was already paid by the same charge."},
    )
    reconciled = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "True: PortOne's answer was lost and the payment was found afterwards."
        },
    )


class PaymentResponseSchema(ma.Schema):
    """Answer carrying one payment."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    payment = ma.fields.Nested(PaymentSchema, required=True)


class PendingChargeResponseSchema(ma.Schema):
    """Answer to a charge PortOne left ``ready``: its outcome is not known yet."""

    status = ma.fields.Constant("pending", required=True, metadata=constant("pending"))
    payment = ma.fields.Nested(PaymentSchema, required=True)
    replayed = ma.fields.Boolean(required=True, metadata={"description": "Always false."})
    reconciled = ma.fields.Boolean(
        required=True,
        metadata={"description": "True: PortOne's answer was lost and the order was looked up."},
    )


class PendingCancelResponseSchema(PendingChargeResponseSchema):
    """Answer to a cancel PortOne V2 accepted but settles later (``REQUESTED``): its outcome is
    not known yet."""


class CancelResponseSchema(ma.Schema):
    """Answer to a cancel."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    payment = ma.fields.Nested(PaymentSchema, required=True)
    replayed = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "True: a retry (same Idempotency-Key) of a cancel that had gone "
            "through; found in the payment's cancel_history, not cancelled again."
        },
    )
    reconciled = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "True: PortOne's answer was lost and the cancel was found in the "
            "payment's cancel_history."
        },
    )
