"""PortOne V2's resources read into the gateway's models; anything malformed is
UnexpectedResponse.

PortOne may add fields, enum values and oneOf cases at any time (its compatibility policy), so
unknown ones are ignored; timestamps are RFC 3339, absent for "not yet"; card numbers are passed
on masked only. V2's words become V1's, the service's shared vocabulary: its statuses
(``STATUSES``), issuers (``cards``), PG names (lower case) and ``customer.id`` (the caller's
``customer_uid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..exceptions import UnexpectedResponse
from ..fields import mask_card_number, money, optional_str
from ..models import BillingKey, Cancellation, Payment, Schedule
from .answer import PROVIDER
from .cards import card_company

PORTONE_V2 = "portone_v2"
# V2's payment statuses in the service's words. PAY_PENDING (and a virtual account waiting for
# its deposit) is not settled yet: ready; a partly cancelled payment reads paid, as in V1.
STATUSES = {
    "READY": "ready",
    "PAY_PENDING": "ready",
    "VIRTUAL_ACCOUNT_ISSUED": "ready",
    "PAID": "paid",
    "PARTIAL_CANCELLED": "paid",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}
# A status PortOne adds later is not settled as far as we know: followed up, never acted on.
_UNKNOWN_STATUS = "ready"
_CARD_TYPES = {"CREDIT": "credit", "DEBIT": "debit"}


def issued_key(data: Any) -> str:
    """The ``billingKey`` of ``POST /billing-keys``'s answer (``billingKeyInfo.billingKey``)."""
    info = _mapping(data, "billingKeyInfo")
    key = info.get("billingKey")
    if not isinstance(key, str) or not key:
        raise UnexpectedResponse("PortOne returned an issued billing key without its id.")
    return key


def key_id(info: Mapping[str, Any]) -> str:
    """A ``BillingKeyInfo``'s ``billingKey``."""
    key = info.get("billingKey")
    if not isinstance(key, str) or not key:
        raise UnexpectedResponse("PortOne returned a billing key without its id.")
    return key


def issued_to(info: Any, customer_uid: str) -> bool:
    """Whether a ``BillingKeyInfo`` is an ISSUED key of ``customer_uid`` (its ``customer.id``):
    a key read back from a remembered id or a search is used only then."""
    return (
        isinstance(info, Mapping)
        and info.get("status") == "ISSUED"
        and _mapping(info, "customer").get("id") == customer_uid
    )


def key_channel(info: Mapping[str, Any]) -> Mapping[str, Any]:
    """The key's channel (its first: a key issued on one channel has one)."""
    channels = info.get("channels")
    if isinstance(channels, list) and channels and isinstance(channels[0], Mapping):
        return channels[0]
    return {}


def parse_billing_key(
    info: Mapping[str, Any], *, first_issued: datetime | None = None
) -> BillingKey:
    """Build from an ISSUED ``BillingKeyInfo``; ``first_issued``: when the key this one replaced
    was issued, if it replaced one (the dates then read as V1's ``inserted`` and ``updated``)."""
    customer = _mapping(info, "customer")
    channel = key_channel(info)
    card = _key_card(info)
    card_name, card_code = card_company(_str(card, "issuer"), _str(card, "name"))
    issued_at = _timestamp(info, "issuedAt")
    return BillingKey(
        customer_uid=_required_str(customer, "id", "billing key's customer.id"),
        pg_provider=_pg_provider(channel),
        pg_id=_str(channel, "pgMerchantId"),
        card_name=card_name,
        card_code=card_code,
        card_number=mask_card_number(_str(card, "number")),
        card_type=_CARD_TYPES.get(_str(card, "type") or ""),
        customer_name=_str(customer, "name"),
        customer_email=_str(customer, "email"),
        customer_tel=_str(customer, "phoneNumber"),
        issued_at=first_issued or issued_at,
        updated_at=issued_at,
        provider=PORTONE_V2,
        reissued=first_issued is not None,
        provider_key=key_id(info),
    )


def key_issued_at(info: Mapping[str, Any]) -> datetime:
    return _timestamp(info, "issuedAt")


def parse_payment(data: Any) -> Payment:
    """Build from a V2 ``Payment``; raise UnexpectedResponse if it is malformed.

    ``customer_uid`` is the payment's ``customer.id`` when it was made with a billing key (we
    issue every key with ``customer.id = customer_uid``); a payment made otherwise has none, as
    in V1, so no caller owns it.
    """
    if not isinstance(data, Mapping):
        raise UnexpectedResponse("PortOne returned a malformed payment.")
    status = _required_str(data, "status", "payment's status")
    amount = _mapping(data, "amount")
    method = _mapping(data, "method")
    card = _mapping(method, "card")
    card_name, _ = card_company(_str(card, "issuer"), _str(card, "name"))
    channel = _mapping(data, "channel")
    billing_key = _str(data, "billingKey")
    by_key = billing_key is not None
    failure = _mapping(data, "failure")
    return Payment(
        imp_uid=_required_str(data, "transactionId", "payment's transactionId"),
        merchant_uid=_required_str(data, "id", "payment's id"),
        customer_uid=_str(_mapping(data, "customer"), "id") if by_key else None,
        status=STATUSES.get(status, _UNKNOWN_STATUS),
        amount=money(amount, "total", PROVIDER),
        cancel_amount=money(amount, "cancelled", PROVIDER, default=0),
        currency=_str(data, "currency"),
        name=_str(data, "orderName"),
        paid_at=_optional_timestamp(data, "paidAt"),
        failed_at=_optional_timestamp(data, "failedAt"),
        cancelled_at=_optional_timestamp(data, "cancelledAt"),
        fail_reason=(_str(failure, "pgMessage") or _str(failure, "reason")) if failure else None,
        card_name=card_name,
        card_number=mask_card_number(_str(card, "number")),
        apply_num=_str(method, "approvalNumber"),
        receipt_url=_str(data, "receiptUrl"),
        pg_provider=_pg_provider(channel),
        cancel_history=_cancel_history(data.get("cancellations")),
        customer_uid_usage=_usage(data, by_key),
        sandbox=channel.get("type") == "TEST",
        provider=PORTONE_V2,
        pg_code=_str(failure, "pgCode"),
        provider_key=billing_key,
    )


# V2's schedule statuses in V1's words: one that has started is not executed until its payment
# is made (PENDING: awaiting the PG's approval, its payment made); a status PortOne adds later
# reads scheduled (followed up, never taken as done).
SCHEDULE_STATUSES = {
    "SCHEDULED": "scheduled",
    "STARTED": "scheduled",
    "PENDING": "executed",
    "SUCCEEDED": "executed",
    "FAILED": "executed",
    "REVOKED": "revoked",
}
# V1's statuses as V2's filter (``status[]``) of a schedule listing.
SCHEDULE_FILTERS = {
    v1: [v2 for v2, word in SCHEDULE_STATUSES.items() if word == v1]
    for v1 in ("scheduled", "executed", "revoked")
}


def schedule_id(data: Any) -> str:
    """The ``id`` of a ``PaymentSchedule``, or of ``POST /payments/{id}/schedule``'s
    ``schedule``."""
    value = data.get("id") if isinstance(data, Mapping) else None
    if not isinstance(value, str) or not value:
        raise UnexpectedResponse("PortOne returned a payment schedule without its id.")
    return value


def schedule_status(data: Mapping[str, Any]) -> str:
    """A ``PaymentSchedule``'s ``status`` in V1's words."""
    return SCHEDULE_STATUSES.get(_required_str(data, "status", "schedule's status"), "scheduled")


def parse_schedule(data: Any, payment: Payment | None = None) -> Schedule:
    """Build from a V2 ``PaymentSchedule``; ``payment``: its payment, read once it executed
    (``payment_status``, ``imp_uid`` and ``fail_reason`` come from it, a schedule has none)."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponse("PortOne returned a malformed payment schedule.")
    status = schedule_status(data)
    executed = payment if status == "executed" else None
    return Schedule(
        customer_uid=_required_str(_mapping(data, "customer"), "id", "schedule's customer.id"),
        merchant_uid=_required_str(data, "paymentId", "schedule's paymentId"),
        imp_uid=executed.imp_uid if executed else None,
        schedule_at=_timestamp(data, "timeToPay"),
        executed_at=_optional_timestamp(data, "completedAt") if status == "executed" else None,
        revoked_at=_optional_timestamp(data, "revokedAt"),
        amount=money(data, "totalAmount", PROVIDER),
        name=_str(data, "orderName"),
        currency=_str(data, "currency"),
        schedule_status=status,
        payment_status=executed.status if executed else None,
        fail_reason=executed.fail_reason if executed else None,
    )


def cancellation_status(data: Any) -> str:
    """The ``status`` of ``POST /payments/{id}/cancel``'s ``cancellation``."""
    cancellation = _mapping(data, "cancellation")
    return _required_str(cancellation, "status", "cancellation's status")


def _cancel_history(cancellations: Any) -> tuple[Cancellation, ...]:
    """The cancels that went through (SUCCEEDED): what ``amount.cancelled`` counts, and what
    V1's cancel history lists."""
    if cancellations is None:
        return ()
    if not isinstance(cancellations, list) or not all(
        isinstance(c, Mapping) for c in cancellations
    ):
        raise UnexpectedResponse("PortOne returned malformed cancellations.")
    return tuple(
        Cancellation(
            amount=money(entry, "totalAmount", PROVIDER),
            cancelled_at=_optional_timestamp(entry, "cancelledAt"),
            reason=_str(entry, "reason"),
            cancellation_id=_str(entry, "id"),
        )
        for entry in cancellations
        if entry.get("status") == "SUCCEEDED"
    )


def _usage(data: Mapping[str, Any], by_key: bool) -> str | None:
    if not by_key:
        return None
    return "payment.scheduled" if _str(data, "scheduleId") else "payment"


def _key_card(info: Mapping[str, Any]) -> Mapping[str, Any]:
    """The card of a key's first card method (``BillingKeyPaymentMethodCard``)."""
    methods = info.get("methods")
    if not isinstance(methods, list):
        return {}
    for method in methods:
        if isinstance(method, Mapping) and method.get("type") == "BillingKeyPaymentMethodCard":
            return _mapping(method, "card")
    return {}


# V2's PG modules that V1 (I'mport) names otherwise: callers keep reading V1's names. The rest
# V1 names as V2 does, in lower case (``KSNET`` -> ``ksnet``).
_V1_PG_NAMES = {
    "NICE_V2": "nice",
    "KCP_V2": "kcp",
    "INICIS_V2": "html5_inicis",
    "SMARTRO_V2": "smartro",
    "EXIMBAY_V2": "eximbay",
    "TOSSPAY_V2": "tosspay",
}


def _pg_provider(channel: Mapping[str, Any]) -> str | None:
    """The PG's name as V1 gives it (``NICE_V2`` -> ``nice``), else V2's in lower case."""
    name = _str(channel, "pgProvider")
    if not name:
        return None
    return _V1_PG_NAMES.get(name, name.lower())


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object, {} when absent or null."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UnexpectedResponse(f"PortOne returned a malformed {key}.")
    return value


def _str(data: Mapping[str, Any], key: str) -> str | None:
    return optional_str(data, key, PROVIDER)


def _required_str(data: Mapping[str, Any], key: str, what: str) -> str:
    value = _str(data, key)
    if not value:
        raise UnexpectedResponse(f"PortOne returned a malformed {what}.")
    return value


def _optional_timestamp(data: Mapping[str, Any], key: str) -> datetime | None:
    return None if data.get(key) is None else _timestamp(data, key)


def _timestamp(data: Mapping[str, Any], key: str) -> datetime:
    """An RFC 3339 date-time with its offset (PortOne writes ``...Z``)."""
    value = data.get(key)
    try:
        stamp = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError as exc:
        raise UnexpectedResponse(f"PortOne returned a malformed {key}.") from exc
    if stamp is None or stamp.tzinfo is None:
        raise UnexpectedResponse(f"PortOne returned a malformed {key}.")
    return stamp
