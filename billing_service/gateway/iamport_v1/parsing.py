"""I'mport's answers read into the gateway's models; anything malformed is UnexpectedResponse.

I'mport may add fields at any time (its compatibility policy), so unknown ones are ignored;
timestamps are UNIX seconds with 0 for "not yet"; card numbers are passed on masked only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..exceptions import UnexpectedResponse
from ..fields import is_whole, mask_card_number, money, optional_str
from ..models import BillingKey, Cancellation, Payment, Schedule
from .token import AccessToken

# The provider's name in the transport's and the readers' messages ("I'mport could not be
# reached.").
PROVIDER = "I'mport"
# I'mport reports card_type as 0 (credit), 1 (check/debit) or null; old docs typed it as a string.
_CARD_TYPES = {0: "credit", 1: "debit", "0": "credit", "1": "debit"}


def parse_access_token(data: Any) -> AccessToken:
    """Read getToken's answer: the token and its life left, by I'mport's clock."""
    try:
        value, now, expired_at = data["access_token"], data["now"], data["expired_at"]
    except (TypeError, KeyError) as exc:
        raise UnexpectedResponse("I'mport returned a malformed access token.") from exc
    if not (isinstance(value, str) and value and is_whole(now) and is_whole(expired_at)):
        raise UnexpectedResponse("I'mport returned a malformed access token.")
    return AccessToken(value=value, lifetime=expired_at - now)


def parse_billing_key(data: Any) -> BillingKey:
    """Build from I'mport's ``response`` object; raise UnexpectedResponse if it is malformed."""
    if not isinstance(data, Mapping) or not isinstance(data.get("customer_uid"), str):
        raise UnexpectedResponse("I'mport returned a billing key without a customer_uid.")
    return BillingKey(
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


def parse_payment(data: Any) -> Payment:
    """Build from I'mport's ``response`` object; raise UnexpectedResponse if it is malformed."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponse("I'mport returned a malformed payment.")
    for key in ("imp_uid", "merchant_uid", "status"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise UnexpectedResponse(f"I'mport returned a payment without {key}.")
    history = data.get("cancel_history") or []
    if not isinstance(history, list) or not all(isinstance(h, Mapping) for h in history):
        raise UnexpectedResponse("I'mport returned a malformed cancel history.")
    return Payment(
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
        customer_uid_usage=_optional_str(data, "customer_uid_usage"),
        sandbox=_flag(data, "sandbox"),
        cancel_history=tuple(
            Cancellation(
                amount=_money(entry, "amount"),
                cancelled_at=_optional_timestamp(entry, "cancelled_at"),
                reason=_optional_str(entry, "reason"),
                cancellation_id=_optional_str(entry, "cancellation_id"),
            )
            for entry in history
        ),
    )


def parse_schedule(data: Any) -> Schedule:
    """Read a ``ScheduleResult``."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponse("I'mport returned a malformed schedule.")
    for key in ("customer_uid", "merchant_uid", "schedule_status"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise UnexpectedResponse(f"I'mport returned a schedule without {key}.")
    return Schedule(
        customer_uid=data["customer_uid"],
        merchant_uid=data["merchant_uid"],
        imp_uid=_optional_str(data, "imp_uid") or None,
        schedule_at=_timestamp(data, "schedule_at"),
        executed_at=_optional_timestamp(data, "executed_at"),
        revoked_at=_optional_timestamp(data, "revoked_at"),
        amount=_money(data, "amount"),
        name=_optional_str(data, "name"),
        currency=_optional_str(data, "currency"),
        schedule_status=data["schedule_status"],
        payment_status=_optional_str(data, "payment_status"),
        fail_reason=_optional_str(data, "fail_reason"),
    )


def parse_schedules(data: Any) -> list[Schedule]:
    """A list of ``ScheduleResult``s (a schedule or unschedule answer)."""
    if not isinstance(data, list):
        raise UnexpectedResponse("I'mport returned a malformed list of schedules.")
    return [parse_schedule(item) for item in data]


def _card_type(value: Any) -> str | None:
    """Unknown or malformed values count as 'not reported', as null does."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return _CARD_TYPES.get(value)


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    return optional_str(data, key, PROVIDER)


def _flag(data: Mapping[str, Any], key: str) -> bool:
    """A JSON boolean; absent or null is false (I'mport has sent ``sandbox`` on every payment
    since test payments were told apart, 2026-01)."""
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise UnexpectedResponse(f"I'mport returned a malformed {key}.")


def _money(data: Mapping[str, Any], key: str, default: int | None = None) -> int:
    return money(data, key, PROVIDER, default)


def _optional_timestamp(data: Mapping[str, Any], key: str) -> datetime | None:
    """I'mport writes 0 (or nothing) for what has not happened."""
    value = data.get(key)
    return None if value in (None, 0) else _timestamp(data, key)


def _timestamp(data: Mapping[str, Any], key: str) -> datetime:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnexpectedResponse(f"I'mport returned a malformed {key} timestamp.")
    return datetime.fromtimestamp(value, UTC)
