"""Small value objects passed to and returned by the I'mport gateway."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .exceptions import UnexpectedResponse

# I'mport reports card_type as 0 (credit), 1 (check/debit) or null; old docs typed it as a string.
_CARD_TYPES = {0: "credit", 1: "debit", "0": "credit", "1": "debit"}


@dataclass(frozen=True)
class CardDetails:
    """Raw card data, held only for the duration of one request.

    ``repr=False`` on every field keeps the values out of logs and tracebacks that print the
    object.
    """

    number: str = field(repr=False)  # digits only
    expiry: str = field(repr=False)  # YYYY-MM
    birth: str = field(repr=False)  # YYMMDD or a 10-digit business registration number
    pwd_2digit: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AccessToken:
    """An I'mport access token and how many seconds it has left, by I'mport's own clock."""

    value: str = field(repr=False)
    lifetime: int


@dataclass(frozen=True)
class BillingKey:
    """A billing key as I'mport describes it (its ``CustomerAnnotation``)."""

    customer_uid: str
    pg_provider: str | None
    pg_id: str | None
    card_name: str | None
    card_code: str | None
    card_number: str | None  # masked
    card_type: str | None  # "credit", "debit" or None
    customer_name: str | None
    customer_email: str | None
    customer_tel: str | None
    issued_at: datetime
    updated_at: datetime

    @property
    def replaced(self) -> bool:
        """True when the customer_uid already had a key that this one replaced."""
        return self.issued_at != self.updated_at

    @classmethod
    def from_annotation(cls, data: Any) -> BillingKey:
        """Build from I'mport's ``response`` object; raise UnexpectedResponse if it is malformed."""
        if not isinstance(data, Mapping) or not isinstance(data.get("customer_uid"), str):
            raise UnexpectedResponse("I'mport returned a billing key without a customer_uid.")
        return cls(
            customer_uid=data["customer_uid"],
            pg_provider=_optional_str(data, "pg_provider"),
            pg_id=_optional_str(data, "pg_id"),
            card_name=_optional_str(data, "card_name"),
            card_code=_optional_str(data, "card_code"),
            card_number=mask_card_number(_optional_str(data, "card_number")),
            card_type=_card_type(data.get("card_type")),
            customer_name=_optional_str(data, "customer_name"),
            customer_email=_optional_str(data, "customer_email"),
            customer_tel=_optional_str(data, "customer_tel"),
            issued_at=_timestamp(data, "inserted"),
            updated_at=_timestamp(data, "updated"),
        )


@dataclass(frozen=True)
class Charge:
    """A charge of a billing key, as ``POST /subscribe/payments/again`` takes it."""

    customer_uid: str
    merchant_uid: str
    amount: int
    name: str
    currency: str = "KRW"
    tax_free: int | None = None
    card_quota: int | None = None
    buyer: Mapping[str, str] = field(default_factory=dict)  # buyer_name, buyer_email, ...
    custom_data: Mapping[str, Any] | None = None
    notice_url: str | None = None

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customer_uid": self.customer_uid,
            "merchant_uid": self.merchant_uid,
            "amount": self.amount,
            "name": self.name,
            "currency": self.currency,
            **self.buyer,
        }
        optional = {"tax_free": self.tax_free, "card_quota": self.card_quota}
        body.update({k: v for k, v in optional.items() if v is not None})
        if self.custom_data is not None:
            # I'mport stores custom_data as a string; JSON keeps it readable on the way back.
            body["custom_data"] = json.dumps(self.custom_data, ensure_ascii=False)
        if self.notice_url is not None:
            body["notice_url"] = self.notice_url
        return body


@dataclass(frozen=True)
class Cancellation:
    """One entry of a payment's cancel history."""

    amount: int
    cancelled_at: datetime | None
    reason: str | None


@dataclass(frozen=True)
class Payment:
    """A payment as I'mport describes it (its ``Payment`` object), in the fields we pass on."""

    imp_uid: str
    merchant_uid: str
    customer_uid: str | None
    status: str  # ready, paid, failed or cancelled
    amount: int
    cancel_amount: int
    currency: str | None
    name: str | None
    paid_at: datetime | None
    failed_at: datetime | None
    cancelled_at: datetime | None
    fail_reason: str | None
    card_name: str | None
    card_number: str | None  # masked
    apply_num: str | None
    receipt_url: str | None
    pg_provider: str | None
    cancel_history: tuple[Cancellation, ...]

    @property
    def balance(self) -> int:
        """What is left to cancel."""
        return self.amount - self.cancel_amount

    @classmethod
    def from_annotation(cls, data: Any) -> Payment:
        """Build from I'mport's ``response`` object; raise UnexpectedResponse if it is malformed."""
        if not isinstance(data, Mapping):
            raise UnexpectedResponse("I'mport returned a malformed payment.")
        for key in ("imp_uid", "merchant_uid", "status"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise UnexpectedResponse(f"I'mport returned a payment without {key}.")
        history = data.get("cancel_history") or []
        if not isinstance(history, list) or not all(isinstance(h, Mapping) for h in history):
            raise UnexpectedResponse("I'mport returned a malformed cancel history.")
        return cls(
            imp_uid=data["imp_uid"],
            merchant_uid=data["merchant_uid"],
            customer_uid=_optional_str(data, "customer_uid"),
            status=data["status"],
            amount=_money(data, "amount"),
            cancel_amount=_money(data, "cancel_amount", default=0),
            currency=_optional_str(data, "currency"),
            name=_optional_str(data, "name"),
            paid_at=_optional_timestamp(data, "paid_at"),
            failed_at=_optional_timestamp(data, "failed_at"),
            cancelled_at=_optional_timestamp(data, "cancelled_at"),
            fail_reason=_optional_str(data, "fail_reason"),
            card_name=_optional_str(data, "card_name"),
            card_number=mask_card_number(_optional_str(data, "card_number")),
            apply_num=_optional_str(data, "apply_num"),
            receipt_url=_optional_str(data, "receipt_url"),
            pg_provider=_optional_str(data, "pg_provider"),
            cancel_history=tuple(
                Cancellation(
                    amount=_money(entry, "amount"),
                    cancelled_at=_optional_timestamp(entry, "cancelled_at"),
                    reason=_optional_str(entry, "reason"),
                )
                for entry in history
            ),
        )


@dataclass(frozen=True)
class ChargeResult:
    """A paid charge; ``replayed``: an earlier identical charge, ``reconciled``: found after a
    lost answer."""

    payment: Payment
    replayed: bool = False
    reconciled: bool = False


def mask_card_number(number: str | None) -> str | None:
    """Return I'mport's masked number as is, or mask it ourselves if it arrived in clear.

    I'mport masks digits 7-12; a number with no mask at all would be a provider fault, and we
    still must not pass it on.
    """
    if number is None or "*" in number:
        return number
    digits = "".join(c for c in number if c.isdigit())
    return "*" * (len(digits) - 4) + digits[-4:] if len(digits) > 4 else number


def _card_type(value: Any) -> str | None:
    """Unknown or malformed values count as 'not reported', as null does."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return _CARD_TYPES.get(value)


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise UnexpectedResponse(f"I'mport returned a malformed {key}.")


def _money(data: Mapping[str, Any], key: str, default: int | None = None) -> int:
    # JSON numbers: KRW amounts are integers, but nothing stops a 1000.0.
    value = data.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnexpectedResponse(f"I'mport returned a malformed {key}.")
    return value


def _optional_timestamp(data: Mapping[str, Any], key: str) -> datetime | None:
    """I'mport writes 0 (or nothing) for what has not happened."""
    value = data.get(key)
    return None if value in (None, 0) else _timestamp(data, key)


def _timestamp(data: Mapping[str, Any], key: str) -> datetime:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnexpectedResponse(f"I'mport returned a malformed {key} timestamp.")
    return datetime.fromtimestamp(value, UTC)
