"""A V1 Payment as the fake stores it: statuses, the order a charge asks for, the record it
leaves, the PG's ids, the webhook notice body, and a `ready` payment settled late."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ..clock import KST_OFFSET_SECONDS

READY, PAID, CANCELLED, FAILED = "ready", "paid", "cancelled", "failed"
STATUSES = frozenset({READY, PAID, CANCELLED, FAILED})
SETTLE_STATUSES = (PAID, FAILED)  # what a late PG answer can make of a `ready` payment

# `.invalid` is a reserved TLD: a receipt link can never reach a real host.
RECEIPT_URL = "https://receipt.sandbox.invalid/payments/{}"
CANCEL_RECEIPT_URL = "https://receipt.sandbox.invalid/payments/{}/cancellations/{}"
MSG_DECLINED = "[8326]카드 한도초과"  # fail_reason of a `failed` Payment

BUYER_FIELDS = ("name", "email", "tel", "addr", "postcode")  # buyer_x falls back to customer_x


@dataclass(frozen=True)
class Order:
    """What an `again` request asks for, validated (no card data: the key stands for the card)."""

    customer_uid: str
    merchant_uid: str
    amount: int | float
    name: str
    currency: str
    card_quota: int
    buyer: dict[str, str | None]  # as sent; None = not sent, fall back to the key's customer_x
    custom_data: str | None
    notice_url: str | None = None  # where this payment's notices go (else the webhook URL)


def custom_data_text(custom_data: Any) -> str | None:
    """Documented as a string (JSON text recommended); an object is kept as its JSON text."""
    if custom_data is not None and not isinstance(custom_data, str):
        return json.dumps(custom_data, ensure_ascii=False, separators=(",", ":"))
    return custom_data


def notice_body(payment: dict[str, Any], status: str | None = None) -> dict[str, str]:
    """A webhook notice's body: ids and a status, never card data."""
    return {
        "imp_uid": payment["imp_uid"],
        "merchant_uid": payment["merchant_uid"],
        "status": status or payment["status"],
    }


def _pg_tid(pg_id: str, now: int) -> str:
    """A PG transaction id shaped like NICE's: MID, KST timestamp, a serial."""
    stamp = time.strftime("%y%m%d%H%M%S", time.gmtime(now + KST_OFFSET_SECONDS))
    return f"{pg_id}{stamp}{secrets.randbelow(10**6):06d}"


def _apply_num() -> str:
    """A card approval number: 8 digits."""
    return f"{secrets.randbelow(10**8):08d}"


def new_payment(
    imp_uid: str, order: Order, key: dict[str, Any], status: str, now: int
) -> dict[str, Any]:
    """A full Payment (PaymentAnnotation), keys in alphabetical order as the live API sends them.

    A `ready` payment has no PG answer yet: no pg_tid, approval number or receipt. A `failed`
    one has a PG transaction and a receipt but no approval number.
    """
    paid, failed, answered = status == PAID, status == FAILED, status != READY
    buyer = {
        field: value if value is not None else key.get(f"customer_{field[6:]}")
        for field, value in order.buyer.items()
    }
    return {
        "amount": order.amount,
        "apply_num": _apply_num() if paid else None,
        "bank_code": None,
        "bank_name": None,
        "buyer_addr": buyer["buyer_addr"],
        "buyer_email": buyer["buyer_email"],
        "buyer_name": buyer["buyer_name"],
        "buyer_postcode": buyer["buyer_postcode"],
        "buyer_tel": buyer["buyer_tel"],
        "cancel_amount": 0,
        "cancel_history": [],
        "cancel_reason": None,
        "cancel_receipt_urls": [],
        "cancelled_at": 0,
        "card_code": key["card_code"],
        "card_name": key["card_name"],
        "card_number": key["card_number"],  # already masked when the key was issued
        "card_quota": order.card_quota,
        "card_type": key["card_type"],
        "cash_receipt_issued": False,
        "channel": "api",
        "currency": order.currency,
        "custom_data": order.custom_data,
        "customer_uid": order.customer_uid,
        "customer_uid_usage": "payment",
        "emb_pg_provider": None,
        "escrow": False,
        "fail_reason": MSG_DECLINED if failed else None,
        "failed_at": now if failed else 0,
        "imp_uid": imp_uid,
        "merchant_uid": order.merchant_uid,
        "name": order.name,
        "paid_at": now if paid else 0,
        "pay_method": "card",
        "pg_id": key["pg_id"],
        "pg_provider": key["pg_provider"],
        "pg_tid": _pg_tid(key["pg_id"], now) if answered else None,
        "receipt_url": RECEIPT_URL.format(imp_uid) if answered else None,
        "sandbox": True,
        "started_at": now,
        "status": status,
        "user_agent": "sandbox",
        "vbank_code": None,
        "vbank_date": 0,
        "vbank_holder": None,
        "vbank_issued_at": 0,
        "vbank_name": None,
        "vbank_num": None,
    }


def settle(payment: dict[str, Any] | None, status: str, now: int) -> str | None:
    """Give a `ready` payment the PG's late answer, in place (under the state lock).

    `status` is one of SETTLE_STATUSES; the payment ends as a charge answered that way would
    have: paid with an approval number, or declined; both with a PG transaction and a receipt.
    Returns why it cannot be settled, or None when done.
    """
    if payment is None:
        return "no payment with this imp_uid"
    if payment["status"] != READY:
        return f"only a ready payment can be settled; this one is {payment['status']}"
    payment["status"] = status
    payment["pg_tid"] = _pg_tid(payment["pg_id"], now)
    payment["receipt_url"] = RECEIPT_URL.format(payment["imp_uid"])
    if status == PAID:
        payment["paid_at"] = now
        payment["apply_num"] = _apply_num()
    else:
        payment["failed_at"] = now
        payment["fail_reason"] = MSG_DECLINED
    return None
