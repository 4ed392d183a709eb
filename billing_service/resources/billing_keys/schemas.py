"""Request and response schemas of the billing-key endpoints."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import marshmallow as ma
from marshmallow import validate

from ...api.fields import (
    UID,
    Pattern,
    QuerySchema,
    RequestSchema,
    Text,
    card_digits,
    constant,
    email,
    luhn_valid,
    not_a_card_number,
)
from ...api.schemas import provider_field
from ...gateway import CardDetails

# Korea has no daylight saving time: a fixed offset is exact and needs no tz database.
SEOUL = timezone(timedelta(hours=9), "Asia/Seoul")


# Fields sent to I'mport as they are, besides the card itself.
CUSTOMER_FIELDS = (
    "pg",
    "customer_id",
    "customer_name",
    "customer_tel",
    "customer_email",
    "customer_addr",
    "customer_postcode",
    "channel_key",
)


class CardNumber(ma.fields.String):
    """14-16 digits, optionally grouped with dashes or spaces, passing the Luhn check."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's own convention
        "format": "Must be 14 to 16 digits, optionally grouped with '-' or spaces.",
        "luhn": "Not a valid card number (check digit mismatch).",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(r"[0-9]+(?:[ -][0-9]+)*", text):
            raise self.make_error("format")
        digits = card_digits(text)
        if not 14 <= len(digits) <= 16:
            raise self.make_error("format")
        if not luhn_valid(digits):
            raise self.make_error("luhn")
        return digits


class Expiry(ma.fields.String):
    """``YYYY-MM`` or ``YYYYMM``, not before the current month in Seoul; loads as ``YYYY-MM``."""

    default_error_messages = {  # noqa: RUF012
        "format": "Must be YYYY-MM or YYYYMM with a month from 01 to 12.",
        "expired": "The card has expired.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        match = re.fullmatch(r"([0-9]{4})-?([0-9]{2})", text)
        if not match or not 1 <= int(match[2]) <= 12:
            raise self.make_error("format")
        today = datetime.now(SEOUL).date()
        if (int(match[1]), int(match[2])) < (today.year, today.month):
            raise self.make_error("expired")
        return f"{match[1]}-{match[2]}"


class Birth(ma.fields.String):
    """A real ``YYMMDD`` date, or a 10-digit business registration number (dashes allowed)."""

    default_error_messages = {  # noqa: RUF012
        "format": (
            "Must be a date as YYMMDD, or a 10-digit business registration number for "
            "corporate cards."
        ),
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if re.fullmatch(r"[0-9]{6}", text) and _is_yymmdd(text):
            return text
        if re.fullmatch(r"[0-9]+(?:-[0-9]+)*", text) and len(digits := text.replace("-", "")) == 10:
            return digits
        raise self.make_error("format")


# The card-number and birth formats, for the OpenAPI document: all the fields check but the Luhn
# check digit and the number of days in each month.
CARD_NUMBER_PATTERN = r"^(?=(?:[0-9][ -]?){13,15}[0-9]$)[0-9]+(?:[ -][0-9]+)*$"
_YYMMDD = "[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_BUSINESS_NUMBER = "(?=(?:[0-9]-?){9}[0-9]$)[0-9]+(?:-[0-9]+)*"
BIRTH_PATTERN = f"^(?:{_YYMMDD}|{_BUSINESS_NUMBER})$"


class IssueBillingKeySchema(RequestSchema):
    """Card and customer details for issuing a billing key."""

    card_number = CardNumber(
        required=True,
        load_only=True,
        metadata={
            "description": "14-16 digits, optionally grouped with single '-' or spaces; the "
            "last digit must be the Luhn check digit (a rule no pattern can state).",
            "pattern": CARD_NUMBER_PATTERN,
            "example": "4242-4242-4242-4242",
        },
    )
    expiry = Expiry(
        required=True,
        load_only=True,
        metadata={
            "description": "YYYY-MM or YYYYMM, not before the current month in Seoul.",
            "pattern": "^[0-9]{4}-?(?:0[1-9]|1[0-2])$",
            "example": "2035-12",
        },
    )
    birth = Birth(
        required=True,
        load_only=True,
        metadata={
            "description": "Card holder's birth date YYMMDD (a real date), or the 10-digit "
            "business registration number of a corporate card (dashes allowed).",
            "pattern": BIRTH_PATTERN,
            "example": "880101",
        },
    )
    pwd_2digit = ma.fields.String(
        load_only=True,
        validate=Pattern(r"^[0-9]{2}$", error="Must be exactly 2 digits."),
        metadata={
            "description": "First two digits of the card password; required with a YYMMDD "
            "birth date, optional for corporate cards.",
            "example": "12",
        },
    )
    customer_uid = ma.fields.String(
        required=True,
        validate=[validate.Length(1, 80), UID, not_a_card_number],
        metadata={
            "description": "Your id for this customer and card; the key is stored under it. "
            "A card number is refused (422).",
            "example": "gildong_0001_1234",
        },
    )
    pg = Text(
        validate=validate.Length(1, 64),
        metadata={"description": "PG to use: 'provider' or 'provider.MID' (default PG if absent)."},
    )
    channel_key = Text(
        validate=validate.Length(1, 55),
        metadata={
            "description": "The PortOne console channel to use, instead of IAMPORT_CHANNEL_KEY "
            "(V2: PORTONE_CHANNEL_KEY)."
        },
    )
    # Kept with the key (its answer, in an idempotency record): no card number, as for ids.
    customer_id = Text(validate=[validate.Length(1, 80), not_a_card_number])
    customer_name = Text(validate=[validate.Length(max=20), not_a_card_number])
    customer_tel = Text(validate=[validate.Length(max=20), not_a_card_number])
    customer_email = email(200)
    customer_addr = Text(validate=[validate.Length(max=200), not_a_card_number])
    customer_postcode = Text(validate=[validate.Length(max=8), not_a_card_number])

    @ma.validates_schema
    def require_pwd_for_personal_cards(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data.get("birth", "")) == 6 and "pwd_2digit" not in data:
            raise ma.ValidationError("Required when birth is a date (personal card).", "pwd_2digit")

    @ma.post_load
    def split(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Separate the card (kept out of logs by its repr) from the customer details."""
        return {
            "customer_uid": data["customer_uid"],
            "card": CardDetails(
                number=data["card_number"],
                expiry=data["expiry"],
                birth=data["birth"],
                pwd_2digit=data.get("pwd_2digit"),
            ),
            "customer": {k: data[k] for k in CUSTOMER_FIELDS if k in data},
        }


class BillingKeySchema(ma.Schema):
    """A billing key registered at PortOne; the card number is masked."""

    customer_uid = ma.fields.String(required=True)
    pg_provider = ma.fields.String(allow_none=True, metadata={"example": "nice"})
    pg_id = ma.fields.String(allow_none=True, metadata={"example": "nictest04m"})
    card_name = ma.fields.String(allow_none=True, metadata={"example": "현대카드"})
    card_code = ma.fields.String(allow_none=True, metadata={"example": "367"})
    card_number = ma.fields.String(
        allow_none=True,
        metadata={"description": "Masked, as PortOne returns it.", "example": "424242******4242"},
    )
    card_type = ma.fields.String(
        allow_none=True,
        validate=validate.OneOf(["credit", "debit"]),
        metadata={"description": "null when the PG does not report it."},
    )
    customer_name = ma.fields.String(allow_none=True)
    customer_email = ma.fields.String(allow_none=True)
    customer_tel = ma.fields.String(allow_none=True)
    issued_at = ma.fields.AwareDateTime(
        required=True, default_timezone=UTC, metadata={"description": "First issued (UTC)."}
    )
    updated_at = ma.fields.AwareDateTime(
        required=True, default_timezone=UTC, metadata={"description": "Last (re)issued (UTC)."}
    )
    replaced = ma.fields.Boolean(
        required=True,
        metadata={"description": "True when the customer_uid already had a key, now replaced."},
    )
    provider = provider_field("keeps the key")


class IssueBillingKeyResponseSchema(ma.Schema):
    """Answer to a successful issuance."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    message = ma.fields.Constant(
        "Billing has successfully issued",
        required=True,
        metadata=constant("Billing has successfully issued"),
    )
    billing_key = ma.fields.Nested(BillingKeySchema, required=True)


def _is_yymmdd(text: str) -> bool:
    """A date in either century: 000229 is real (2000), 010229 is not."""
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    for century in (1900, 2000):
        try:
            date(century + yy, mm, dd)
            return True
        except ValueError:
            pass
    return False


class BillingKeyResponseSchema(ma.Schema):
    """Answer carrying one billing key."""

    status = ma.fields.Constant("success", required=True, metadata=constant("success"))
    billing_key = ma.fields.Nested(BillingKeySchema, required=True)


class DeleteBillingKeyQuerySchema(QuerySchema):
    reason = Text(
        validate=validate.Length(max=200),
        metadata={"description": "Why the key is deleted (kept by PortOne); empty means none."},
    )
    revoke_schedules = ma.fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: revoke the key's scheduled charges first; otherwise a key "
            "with scheduled charges is not deleted (409 schedules_pending)."
        },
    )
