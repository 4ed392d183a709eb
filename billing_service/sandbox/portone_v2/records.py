"""What the V2 fake stores and answers: a BillingKeyInfo, a Payment attempt in each of its
statuses (with every field the SDK's types require), a cancellation, and their changes."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .. import cards
from ..clock import KST_OFFSET_SECONDS
from .channels import MERCHANT_ID
from .wire import rfc3339

READY, PAY_PENDING, PAID, FAILED = "READY", "PAY_PENDING", "PAID", "FAILED"
PARTIAL_CANCELLED, CANCELLED = "PARTIAL_CANCELLED", "CANCELLED"
SETTLE_STATUSES = (PAID, FAILED)  # what a late PG answer makes of a READY / PAY_PENDING attempt
REQUESTED, SUCCEEDED = "REQUESTED", "SUCCEEDED"  # a cancellation's (and FAILED)
CANCEL_SETTLE_STATUSES = (SUCCEEDED, FAILED)

# `.invalid` is a reserved TLD: a receipt link can never reach a real host.
RECEIPT_URL = "https://receipt.sandbox.invalid/v2/payments/{}"
# PortOne's `message` of a PG_PROVIDER error beside the PG's (sandbox wording).
MSG_PG_FAILED = "PG사에서 요청을 거절했습니다."
CUSTOMER_FIELDS = ("id", "birthYear", "birthMonth", "birthDay", "gender", "email", "phoneNumber")


def customer_json(given: Any) -> dict[str, Any]:
    """`Customer` as PortOne answers it: the input's fields, `name` as one string."""
    if not isinstance(given, dict):
        return {}
    customer = {name: given[name] for name in CUSTOMER_FIELDS if isinstance(given.get(name), str)}
    name = given.get("name")
    if isinstance(name, dict):
        separated = name.get("separated")
        if isinstance(name.get("full"), str):
            customer["name"] = name["full"]
        elif isinstance(separated, dict):
            parts = (separated.get("last"), separated.get("first"))
            customer["name"] = "".join(part for part in parts if isinstance(part, str))
    return customer


def new_billing_key(
    now: int,
    store_id: str,
    channel: dict[str, Any],
    card: dict[str, Any],
    customer: dict[str, Any],
    custom_data: str | None,
) -> dict[str, Any]:
    """An ISSUED BillingKeyInfo: `billing-key-<uuid>`, the card masked."""
    info: dict[str, Any] = {
        "status": "ISSUED",
        "billingKey": f"billing-key-{uuid.uuid4()}",
        "merchantId": MERCHANT_ID,
        "storeId": store_id,
        "methods": [{"type": "BillingKeyPaymentMethodCard", "card": card}],
        "channels": [channel],
        "customer": customer,
        "requestedAt": rfc3339(now),
        "issuedAt": rfc3339(now),
    }
    if custom_data is not None:
        info["customData"] = custom_data
    return info


@dataclass(frozen=True)
class Order:
    """What a charge asks for, validated (no card data: the key stands for the card)."""

    payment_id: str
    billing_key: str
    order_name: str
    total: int
    tax_free: int
    vat: int
    currency: str
    installment_month: int | None
    customer: dict[str, Any]  # as answered: the request's, else the key's
    custom_data: str | None


def _pg_tx_id(mid: str, now: int) -> str:
    """A PG transaction id shaped like NICE's: MID, KST timestamp, a serial."""
    stamp = time.strftime("%y%m%d%H%M%S", time.gmtime(now + KST_OFFSET_SECONDS))
    return f"{mid}{stamp}{secrets.randbelow(10**6):06d}"


def new_attempt(
    order: Order,
    key: dict[str, Any],
    channel: dict[str, Any],
    status: str,
    now: int,
    failure: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One attempt of a paymentId: a Payment in `status` (READY, PAY_PENDING, PAID or FAILED)
    with every field the SDK's type for that status requires; `failure` is (pgCode, pgMessage)."""
    stamp = rfc3339(now)
    transaction_id = str(uuid.uuid4())
    paid = status == PAID
    amount: dict[str, Any] = {
        "total": order.total,
        "taxFree": order.tax_free,
        "vat": order.vat,
        "supply": order.total - order.tax_free - order.vat,
        "discount": 0,
        "paid": order.total if paid else 0,
        "cancelled": 0,
        "cancelledTaxFree": 0,
    }
    method: dict[str, Any] = {"type": "PaymentMethodCard", "card": key["methods"][0]["card"]}
    if order.installment_month is not None:
        method["installment"] = {"month": order.installment_month, "isInterestFree": False}
    payment: dict[str, Any] = {
        "status": status,
        "id": order.payment_id,
        "transactionId": transaction_id,
        "merchantId": MERCHANT_ID,
        "storeId": key["storeId"],
        "method": method,
        "channel": channel,
        "version": "V2",
        "requestedAt": stamp,
        "updatedAt": stamp,
        "statusChangedAt": stamp,
        "orderName": order.order_name,
        "amount": amount,
        "currency": order.currency,
        "customer": order.customer,
        "origin": {"platformType": "API", "ipAddress": "127.0.0.1"},
        "billingKey": order.billing_key,
        "isCulturalExpense": False,
        "products": [],
    }
    if order.custom_data is not None:
        payment["customData"] = order.custom_data
    if status == PAY_PENDING:
        payment["pgTxId"] = _pg_tx_id(channel["pgMerchantId"], now)
    if paid:
        _pay(payment, now)
    if status == FAILED:
        _fail(payment, now, failure or (cards.DECLINED_CODE, cards.DECLINED_TEXT))
    return payment


def _pay(payment: dict[str, Any], now: int) -> None:
    payment["method"]["approvalNumber"] = f"{secrets.randbelow(10**8):08d}"
    payment["pgTxId"] = payment.get("pgTxId") or _pg_tx_id(payment["channel"]["pgMerchantId"], now)
    payment["paidAt"] = rfc3339(now)
    payment["receiptUrl"] = RECEIPT_URL.format(payment["transactionId"])
    payment["disputes"] = []
    payment["cancellations"] = []
    payment["amount"]["paid"] = payment["amount"]["total"]


def _fail(payment: dict[str, Any], now: int, failure: tuple[str, str]) -> None:
    code, text = failure
    payment["failedAt"] = rfc3339(now)
    payment["failure"] = {"reason": text, "pgCode": code, "pgMessage": text}
    payment.pop("pgTxId", None)  # not a FailedPayment field


def _touch(payment: dict[str, Any], status: str, now: int) -> None:
    if payment["status"] != status:
        payment["statusChangedAt"] = rfc3339(now)
    payment["status"] = status
    payment["updatedAt"] = rfc3339(now)


def settle(payment: dict[str, Any] | None, status: str, now: int) -> str | None:
    """The PG's late answer to a READY / PAY_PENDING attempt, in place; why not, or None."""
    if payment is None:
        return "no payment with this paymentId"
    if payment["status"] not in (READY, PAY_PENDING):
        return f"only a READY or PAY_PENDING payment can be settled, not {payment['status']}"
    if status == PAID:
        _pay(payment, now)
    else:
        _fail(payment, now, (cards.DECLINED_CODE, cards.DECLINED_TEXT))
    _touch(payment, status, now)
    return None


def cancellable(payment: dict[str, Any]) -> int:
    """What can still be cancelled: paid − cancelled − what cancels still REQUESTED hold."""
    amount = payment["amount"]
    held = sum(
        c["totalAmount"] for c in payment.get("cancellations", ()) if c["status"] == REQUESTED
    )
    return int(amount["paid"] - amount["cancelled"] - held)


def new_cancellation(
    amount: int, tax_free: int, vat: int, reason: str, status: str, now: int
) -> dict[str, Any]:
    """A PaymentCancellation in `status` (REQUESTED, SUCCEEDED or FAILED)."""
    cancellation: dict[str, Any] = {
        "status": status,
        "id": str(uuid.uuid4()),
        "totalAmount": amount,
        "taxFreeAmount": tax_free,
        "vatAmount": vat,
        "reason": reason,
        "requestedAt": rfc3339(now),
        "trigger": "API",
    }
    if status == SUCCEEDED:
        _succeed(cancellation, now)
    return cancellation


def _succeed(cancellation: dict[str, Any], now: int) -> None:
    cancellation["status"] = SUCCEEDED
    cancellation["pgCancellationId"] = secrets.token_hex(10)
    cancellation["cancelledAt"] = rfc3339(now)
    cancellation["receiptUrl"] = RECEIPT_URL.format(cancellation["id"])


def apply_cancellation(payment: dict[str, Any], cancellation: dict[str, Any], now: int) -> None:
    """Record a cancellation on its payment, in place; a SUCCEEDED one moves the amounts and
    the status (PARTIAL_CANCELLED, or CANCELLED once nothing is left)."""
    payment.setdefault("cancellations", []).append(cancellation)
    if cancellation["status"] == SUCCEEDED:
        _cancelled(payment, cancellation, now)
    else:
        payment["updatedAt"] = rfc3339(now)


def _cancelled(payment: dict[str, Any], cancellation: dict[str, Any], now: int) -> None:
    amount = payment["amount"]
    amount["cancelled"] += cancellation["totalAmount"]
    amount["cancelledTaxFree"] += cancellation["taxFreeAmount"]
    payment["cancelledAt"] = rfc3339(now)
    payment.pop("disputes", None)  # a PaidPayment field only
    _touch(payment, CANCELLED if amount["cancelled"] >= amount["paid"] else PARTIAL_CANCELLED, now)


def settle_cancellation(
    payment: dict[str, Any] | None, cancellation_id: str, status: str, now: int
) -> str | None:
    """The PG's late answer to a REQUESTED cancellation, in place; why not, or None."""
    if payment is None:
        return "no payment with this paymentId"
    for cancellation in payment.get("cancellations", ()):
        if cancellation["id"] == cancellation_id:
            if cancellation["status"] != REQUESTED:
                return f"only a REQUESTED cancellation can be settled, not {cancellation['status']}"
            if status == SUCCEEDED:
                _succeed(cancellation, now)
                _cancelled(payment, cancellation, now)
            else:
                cancellation["status"] = FAILED
                payment["updatedAt"] = rfc3339(now)
            return None
    return "no cancellation with this id on the payment's latest attempt"
