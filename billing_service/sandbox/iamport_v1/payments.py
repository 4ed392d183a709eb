"""The faked payment endpoints: charge a billing key (`again`), look payments up, cancel them."""

from __future__ import annotations

import math
import re
import secrets
from typing import Any

from ..faults import (
    FAULT_500,
    FAULT_DROP,
    FAULT_LOST,
    FAULT_READY,
    PENDING,
    pace_of,
    slowed,
)
from ..wire import Reply, Request
from . import cards
from .records import (
    BUYER_FIELDS,
    CANCEL_RECEIPT_URL,
    CANCELLED,
    FAILED,
    MSG_DECLINED,
    PAID,
    READY,
    STATUSES,
    Order,
    custom_data_text,
    new_payment,
    notice_body,
)
from .wire import MAX_CUSTOMER_UID_LENGTH, MSG_SERVER_ERROR, Context, envelope

MAX_MERCHANT_UID_LENGTH = 40  # spec `maxLength: 40` (smartro_v2 even truncates at 40)

MSG_MISSING = "{} 파라메터가 누락되었습니다."  # wording of getToken's; the rest is a guess
MSG_INVALID = "{} 파라메터의 값이 올바르지 않습니다."  # sandbox wording
MSG_TOO_LONG = "{}는 최대 {}자까지 입력할 수 있습니다."  # sandbox wording
MSG_UNKNOWN_BUYER = "등록되지 않은 구매자입니다."
MSG_DUPLICATE = (
    "이미 주문이 이루어진 건입니다. (동일한 merchant_uid로 결제 또는 취소된 기록이 있습니다)"
)
MSG_REFUSED = "결제승인에 실패하였습니다. [2116]개인 월 한도금액 초과"  # pyconapac-2016 #21
MSG_NOT_FOUND = "존재하지 않는 결제정보입니다."
# fail_reason of a scheduled execution whose billing key was deleted (sandbox wording).
MSG_NO_BILLING_KEY = "[sandbox] 빌링키가 삭제되어 예약결제를 실행할 수 없습니다."
USAGE_SCHEDULED = "payment.scheduled"  # customer_uid_usage of a scheduled execution
MSG_BAD_STATUS = "payment_status는 ready, paid, cancelled, failed 중 하나여야 합니다."  # guess
MSG_NOTHING_TO_CANCEL = "취소할 결제건이 존재하지 않습니다."
# Sandbox wording, modelled on the PG texts ("취소금액이 취소가능금액보다 큼", NICE 2032).
MSG_CANCEL_TOO_MUCH = "취소요청금액({})이 취소가능금액({})보다 큽니다."
MSG_CHECKSUM_MISMATCH = "요청하신 checksum({})이 취소가능금액({})과 일치하지 않습니다."

NOT_FOUND_REPLY = envelope(404, -1, MSG_NOT_FOUND)

_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?")  # form values; int()/float() would take "1_000", "nan"


def _number(value: Any) -> int | float | None:
    """A JSON number or numeric string, as int when whole; None when not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not _NUMERIC.fullmatch(text):
            return None
        value = float(text) if "." in text else int(text)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    return value if isinstance(value, int) else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _read_order(req: Request) -> Order | Reply:
    required = ("customer_uid", "merchant_uid", "amount", "name")
    missing = [name for name in required if _blank(req.body.get(name))]
    if missing:
        return envelope(400, -1, MSG_MISSING.format(", ".join(missing)))
    customer_uid = req.field("customer_uid")
    merchant_uid = req.field("merchant_uid")
    name = req.field("name")
    if customer_uid is None or merchant_uid is None or name is None:  # an object or a list
        return envelope(400, -1, MSG_INVALID.format("customer_uid, merchant_uid, name"))
    if len(customer_uid) > MAX_CUSTOMER_UID_LENGTH:
        return envelope(400, -1, MSG_TOO_LONG.format("customer_uid", MAX_CUSTOMER_UID_LENGTH))
    if len(merchant_uid) > MAX_MERCHANT_UID_LENGTH:
        return envelope(400, -1, MSG_TOO_LONG.format("merchant_uid", MAX_MERCHANT_UID_LENGTH))
    amount = _number(req.body["amount"])
    if amount is None or amount <= 0:
        return envelope(400, -1, MSG_INVALID.format("amount"))
    card_quota = 0
    if not _blank(req.body.get("card_quota")):
        quota = _number(req.body["card_quota"])
        if not isinstance(quota, int) or quota < 0:
            return envelope(400, -1, MSG_INVALID.format("card_quota"))
        card_quota = quota
    custom_data = custom_data_text(req.body.get("custom_data"))
    return Order(
        customer_uid=customer_uid,
        merchant_uid=merchant_uid,
        amount=amount,
        name=name,
        currency=req.field("currency") or "KRW",
        card_quota=card_quota,
        buyer={f"buyer_{part}": req.field(f"buyer_{part}") for part in BUYER_FIELDS},
        custom_data=custom_data,
        notice_url=req.field("notice_url") or None,
    )


def _charge(ctx: Context, order: Order, pg_silent: bool) -> Reply:
    """The I'mport checks, then the card company's answer; `pg_silent`: it never answers."""
    config = ctx.state.config  # one snapshot: a concurrent config change cannot mix variants
    # Always HTTP 200, even with `not_found_as_404`: every observation of `again` saw 200.
    duplicate = envelope(200, config.duplicate_code, MSG_DUPLICATE)
    billing_key = ctx.state.get_billing_key(order.customer_uid)
    if billing_key is None:
        # Observed code 1 (kde713, 2018-20); the python client's test saw -1 since 2019.
        return envelope(200, config.unknown_customer_code, MSG_UNKNOWN_BUYER)
    key, behaviour = billing_key
    if pg_silent:
        status = READY
    elif behaviour == cards.CHARGE_REFUSE:
        # Refused before a payment record exists: code -1, response null, nothing stored.
        # The duplicate check is I'mport's own and still comes first.
        if ctx.state.merchant_uid_taken(order.merchant_uid):
            return duplicate
        return envelope(200, -1, MSG_REFUSED)
    elif behaviour == cards.CHARGE_DECLINE:
        # The V1 guide: code 0 means "the card company answered"; the decline is in `status`.
        status = FAILED
    else:
        status = PAID
    now = ctx.state.now()
    payment = ctx.state.add_payment(
        order.merchant_uid,
        lambda imp_uid: new_payment(imp_uid, order, key, status, now),
        notice_url=order.notice_url,
    )
    if payment is None:
        return duplicate
    if status == PAID:
        # Approvals are notified; declined (failed) plain charges and ready ones are not.
        ctx.notices.notify(order.notice_url, notice_body(payment))
    return envelope(200, 0, None, payment)


def charge_again(ctx: Context, req: Request) -> Reply | None:
    """`POST /subscribe/payments/again`: charge a stored billing key.

    A paid charge queues a `paid` notice to its `notice_url` (else the webhook URL), sent in
    the background, also when the answer is then lost (`fault-drop-`); a failed one sends none.
    """
    order = _read_order(req)
    if isinstance(order, Reply):
        return order
    merchant_uid = order.merchant_uid
    if merchant_uid.startswith(FAULT_LOST):
        return None
    if merchant_uid.startswith(FAULT_500):
        return envelope(500, -1, MSG_SERVER_ERROR)
    ready = merchant_uid.startswith(FAULT_READY)
    reply = _charge(ctx, order, pg_silent=ready or merchant_uid.startswith(PENDING))
    if ready or merchant_uid.startswith(FAULT_DROP):
        return None  # whatever happened is stored; the caller never hears of it
    return None if reply is None else slowed(reply, pace_of(merchant_uid), ctx.hang_seconds)


def _hidden(ctx: Context, req: Request) -> bool:
    """True when the `hide_sandbox_payments` switch hides every (sandbox) payment from a lookup.

    Only the exact documented value `true` reveals them: a client sending `True` or `1`
    should find out here, not against the live API.
    """
    return ctx.state.config.hide_sandbox_payments and req.query.get("include_sandbox") != "true"


def _found(payment: dict[str, Any] | None) -> Reply:
    # Unlike an unknown customer_uid (200 + code 1), payment lookups really answer 404.
    if payment is None:
        return NOT_FOUND_REPLY
    return envelope(200, 0, None, payment)


def get_payment(ctx: Context, req: Request) -> Reply:
    """`GET /payments/{imp_uid}`; `include_sandbox` matters only with `hide_sandbox_payments`."""
    if _hidden(ctx, req):
        return NOT_FOUND_REPLY
    return _found(ctx.state.get_payment(req.params["imp_uid"]))


def find_payment(ctx: Context, req: Request) -> Reply:
    """`GET /payments/find/{merchant_uid}[/{payment_status}]`: the latest matching payment."""
    status = req.params.get("payment_status")
    if status is not None and status not in STATUSES:
        return envelope(400, -1, MSG_BAD_STATUS)
    if _hidden(ctx, req):
        return NOT_FOUND_REPLY
    return _found(ctx.state.find_payment(req.params["merchant_uid"], status))


def _apply_cancel(
    payment: dict[str, Any] | None,
    amount: int | float,
    checksum: int | float | None,
    reason: str | None,
    now: int,
    partial_status: str,
) -> str | None:
    """Cancel in place (under the state lock); return a refusal message, or None when done.

    The balance decides, not only the status: with `partial_cancel_status` `cancelled` a
    partly cancelled payment is `cancelled` yet can still be cancelled further.
    """
    if payment is None or payment["status"] not in (PAID, CANCELLED):
        return MSG_NOTHING_TO_CANCEL  # failed / ready: nothing was ever paid
    remaining = payment["amount"] - payment["cancel_amount"]
    if remaining <= 0:
        return MSG_NOTHING_TO_CANCEL
    if checksum is not None and checksum != remaining:
        return MSG_CHECKSUM_MISMATCH.format(checksum, remaining)
    requested = amount or remaining  # omitted or 0: the whole remaining balance
    if requested > remaining:
        return MSG_CANCEL_TOO_MUCH.format(requested, remaining)
    cancellation_id = secrets.token_hex(10)
    receipt_url = CANCEL_RECEIPT_URL.format(payment["imp_uid"], cancellation_id)
    cancel_amount = payment["cancel_amount"] + requested
    if isinstance(cancel_amount, float) and cancel_amount.is_integer():
        cancel_amount = int(cancel_amount)
    payment["cancel_amount"] = cancel_amount
    if cancel_amount >= payment["amount"] or partial_status == CANCELLED:
        payment["status"] = CANCELLED
    # By default a partial cancel keeps the status (`paid`; UNCONFIRMED for V1) but still
    # records when and why. "paid" never turns a `cancelled` payment back: the switch may
    # have been flipped between two partial cancels.
    payment["cancelled_at"] = now
    payment["cancel_reason"] = reason
    payment["cancel_history"].append(
        {
            "pg_tid": payment["pg_tid"],
            "amount": requested,
            "cancelled_at": now,
            "reason": reason,
            "cancellation_id": cancellation_id,
            "receipt_url": receipt_url,
        }
    )
    payment["cancel_receipt_urls"].append(receipt_url)
    return None


def _optional_amount(req: Request, name: str) -> int | float | None | Reply:
    """An optional non-negative number field: None when absent, a 400 reply when invalid."""
    value = req.body.get(name)
    if _blank(value):
        return None
    number = _number(value)
    if number is None or number < 0:
        return envelope(400, -1, MSG_INVALID.format(name))
    return number


def cancel_payment(ctx: Context, req: Request) -> Reply:
    """`POST /payments/cancel` by imp_uid (wins) or merchant_uid; full or partial.

    `tax_free`, `vat_amount` and the refund_* fields are accepted and ignored. With
    `enable_webhook` true a done cancel queues a `cancelled` notice with its `cancellation_id`.
    """
    imp_uid = req.field("imp_uid") or None
    merchant_uid = None if imp_uid else (req.field("merchant_uid") or None)
    if imp_uid is None and merchant_uid is None:
        return envelope(400, -1, MSG_MISSING.format("imp_uid 또는 merchant_uid"))
    amount = _optional_amount(req, "amount")
    if isinstance(amount, Reply):
        return amount
    checksum = _optional_amount(req, "checksum")
    if isinstance(checksum, Reply):
        return checksum
    reason = req.field("reason")
    now = ctx.state.now()
    partial_status = ctx.state.config.partial_cancel_status
    refusal, payment = ctx.state.update_payment(
        imp_uid,
        merchant_uid,
        lambda live: _apply_cancel(live, amount or 0, checksum, reason, now, partial_status),
    )
    if refusal is not None:
        return envelope(200, 1, refusal)
    assert payment is not None  # a done cancel had a payment
    if _true(req.body.get("enable_webhook")):
        body = notice_body(payment, CANCELLED)
        body["cancellation_id"] = payment["cancel_history"][-1]["cancellation_id"]
        ctx.notices.notify(ctx.state.notice_url(payment["imp_uid"]), body)
    return envelope(200, 0, None, payment)


def _true(value: Any) -> bool:
    """A boolean flag sent as JSON `true` or as a form value `true` / `1`."""
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1"))


def charge_scheduled(
    ctx: Context, schedule: dict[str, Any], notice_url: str | None, card_quota: int, now: int
) -> dict[str, Any]:
    """Execute a due schedule: charge its billing key like `again` and record the payment.

    An execution always records a payment (`customer_uid_usage` `payment.scheduled`): a
    declining card ends it `failed` with `[8326]…`, a refusing card `failed` with the refusal
    text, a deleted billing key `failed` with MSG_NO_BILLING_KEY (no PG transaction), and a
    merchant_uid paid meanwhile (through `again`) `failed` with the duplicate message.
    """
    order = Order(
        customer_uid=schedule["customer_uid"],
        merchant_uid=schedule["merchant_uid"],
        amount=schedule["amount"],
        name=schedule["name"],
        currency=schedule["currency"],
        card_quota=card_quota,
        buyer={f"buyer_{part}": schedule[f"buyer_{part}"] for part in BUYER_FIELDS},
        custom_data=schedule["custom_data"],
    )
    billing_key = ctx.state.get_billing_key(order.customer_uid)
    reason: str | None = None
    if billing_key is None:
        key: dict[str, Any] = {
            "card_code": None,
            "card_name": None,
            "card_number": None,
            "card_type": None,
            "pg_id": schedule["pg_id"],
            "pg_provider": schedule["pg_provider"],
        }
        reason = MSG_NO_BILLING_KEY
    else:
        key, behaviour = billing_key
        if behaviour == cards.CHARGE_DECLINE:
            reason = MSG_DECLINED
        elif behaviour == cards.CHARGE_REFUSE:
            reason = MSG_REFUSED
    if reason is None and ctx.state.merchant_uid_taken(order.merchant_uid):
        reason = MSG_DUPLICATE

    def build(imp_uid: str) -> dict[str, Any]:
        payment = new_payment(imp_uid, order, key, FAILED if reason else PAID, now)
        payment["customer_uid_usage"] = USAGE_SCHEDULED
        if reason is not None:
            payment["fail_reason"] = reason
        if billing_key is None:  # nothing reached a card company
            payment["pg_tid"] = payment["receipt_url"] = None
        return payment

    payment = ctx.state.add_payment(
        order.merchant_uid, build, notice_url=notice_url, check_duplicate=False
    )
    assert payment is not None  # no duplicate check: always stored
    return payment
