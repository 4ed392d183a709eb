"""Small value objects passed to and returned by the gateway, whichever the provider (no
behaviour, no imports of the gateway's other modules: exceptions carry them, a provider's parsing
builds them)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
    provider: str = "iamport_v1"  # or "portone_v2": which provider keeps the key
    # This issuance replaced a key of the customer_uid, as the provider tells it (PortOne V2's
    # keys are new ones: their dates alone may share a second); V1 tells it by the dates.
    reissued: bool = False
    # The provider's own id of the key when it is not the customer_uid (PortOne V2's
    # billingKey): what a re-issuance keeps when it deletes the keys it replaced.
    provider_key: str | None = field(default=None, repr=False)

    @property
    def replaced(self) -> bool:
        """True when the customer_uid already had a key that this one replaced."""
        return self.reissued or self.issued_at != self.updated_at


@dataclass(frozen=True, kw_only=True)
class Order:
    """What a payment is for: the fields a charge and a scheduled charge share."""

    merchant_uid: str
    amount: int
    name: str
    currency: str = "KRW"
    tax_free: int | None = None
    card_quota: int | None = None
    buyer: Mapping[str, str] = field(default_factory=dict)  # buyer_name, buyer_email, ...
    custom_data: Mapping[str, Any] | None = None

    def order_fields(self) -> dict[str, Any]:
        body: dict[str, Any] = {
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
        return body


@dataclass(frozen=True, kw_only=True)
class Charge(Order):
    """A charge of a billing key, as ``POST /subscribe/payments/again`` takes it."""

    customer_uid: str
    notice_url: str | None = None
    channel_key: str | None = None

    def as_body(self) -> dict[str, Any]:
        body = {"customer_uid": self.customer_uid, **self.order_fields()}
        optional = {"notice_url": self.notice_url, "channel_key": self.channel_key}
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


@dataclass(frozen=True, kw_only=True)
class ScheduledCharge(Order):
    """One charge of ``POST /subscribe/payments/schedule``, due at ``schedule_at``."""

    schedule_at: datetime

    def as_body(self) -> dict[str, Any]:
        # I'mport takes UNIX seconds; milliseconds are silently taken as a year in 57659.
        return {"schedule_at": int(self.schedule_at.timestamp()), **self.order_fields()}


@dataclass(frozen=True)
class Schedule:
    """A scheduled charge as I'mport records it (its ``ScheduleResult``)."""

    customer_uid: str
    merchant_uid: str
    imp_uid: str | None
    schedule_at: datetime
    executed_at: datetime | None
    revoked_at: datetime | None
    amount: int
    name: str | None
    currency: str | None
    schedule_status: str  # scheduled, executed or revoked
    payment_status: str | None  # null until executed, then paid, failed or cancelled
    fail_reason: str | None


@dataclass(frozen=True)
class Cancellation:
    """One entry of a payment's cancel history."""

    amount: int
    cancelled_at: datetime | None
    reason: str | None
    cancellation_id: str | None = None  # I'mport's id of this cancel, also in its notice


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
    # How the key was used: "payment" (a charge), "payment.scheduled" (a schedule's execution),
    # "issue" (a one-off payment that stored the card); None when not a billing-key payment.
    customer_uid_usage: str | None = None
    sandbox: bool = False  # paid through a test channel: no real money moved
    provider: str = "iamport_v1"  # or "portone_v2": which provider made the payment
    pg_code: str | None = None  # a failed payment's PG code (PortOne V2's failure.pgCode)
    # The key charged as the provider names it (PortOne V2's billingKey; None under I'mport,
    # which names a key by its customer_uid): whose key it was is checked against it.
    provider_key: str | None = None

    @property
    def by_billing_key(self) -> bool:
        """Made by charging a billing key (a charge or a schedule's execution), not by a payment
        window (a browser checkout, even one that stored the card as a key)."""
        return self.customer_uid is not None and self.customer_uid_usage != "issue"

    @property
    def balance(self) -> int:
        """What is left to cancel."""
        return self.amount - self.cancel_amount


@dataclass(frozen=True)
class ChargeResult:
    """A paid charge; ``replayed``: an earlier identical charge, ``reconciled``: found after a
    lost answer."""

    payment: Payment
    replayed: bool = False
    reconciled: bool = False


@dataclass(frozen=True)
class CancelResult:
    """A cancel's payment; ``replayed``: an earlier attempt of this cancel had gone through,
    ``reconciled``: its answer was lost and the cancel was found in the payment afterwards."""

    payment: Payment
    replayed: bool = False
    reconciled: bool = False


@dataclass(frozen=True)
class ScheduleResult:
    """Scheduled charges; ``replayed``: this request had been made already, ``reconciled``: its
    answer was lost and the schedules were found afterwards."""

    schedules: list[Schedule]
    replayed: bool = False
    reconciled: bool = False


@dataclass(frozen=True)
class MoveResult:
    """A re-issuance's move of a customer's schedules to its new key: those ``moved``; the one
    the provider ``refused`` to schedule again (revoked from the old key: it will not run), with
    its words in ``reason``, where the move stopped (the rest stay on the old key, which is
    kept). V1 moves nothing: its schedules stay with the customer_uid and charge the new card."""

    moved: list[Schedule] = field(default_factory=list)
    refused: Schedule | None = None
    reason: str | None = None
