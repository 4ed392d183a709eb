"""Small value objects passed to and returned by the I'mport gateway."""

from __future__ import annotations

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


def _timestamp(data: Mapping[str, Any], key: str) -> datetime:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnexpectedResponse(f"I'mport returned a malformed {key} timestamp.")
    return datetime.fromtimestamp(value, UTC)
