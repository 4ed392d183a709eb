"""The faked `POST /payments/{paymentId}/cancel`: full or partial, checked against
`currentCancellableAmount`, answered at once, asynchronously or refused by the PG (switch
`cancel_outcome`), and its webhook."""

from __future__ import annotations

from typing import Any

from ..wire import Reply, Request, json_reply
from . import records
from .payments import MSG_NOT_FOUND, notify
from .wire import Context, error, invalid, is_int, store_refusal

# Sandbox wording: PortOne's texts for these refusals are not documented.
MSG_ALREADY_CANCELLED = "이미 전액 취소된 결제 건입니다."
MSG_NOT_PAID = "결제 완료 상태가 아닌 결제 건입니다."
MSG_CONSISTENCY = "취소 가능 잔액({})이 요청의 currentCancellableAmount({})와 일치하지 않습니다."
MSG_EXCEEDS = "취소 요청 금액({})이 취소 가능 금액({})을 초과합니다."
MSG_TAX_FREE_EXCEEDS = "취소 면세 금액({})이 취소 가능 면세 금액({})을 초과합니다."
_AMOUNT_FIELDS = ("amount", "taxFreeAmount", "vatAmount", "currentCancellableAmount")


def _read(body: dict[str, Any]) -> tuple[str, dict[str, int | None]] | Reply:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason:
        return invalid("reason is required")
    amounts: dict[str, int | None] = {}
    for name in _AMOUNT_FIELDS:
        value = body.get(name)
        if value is not None and (not is_int(value) or value < 0):
            return invalid(f"{name} must be an int >= 0")
        amounts[name] = value
    if amounts["amount"] == 0:
        return invalid("amount must be > 0 (omit it to cancel the whole balance)")
    if body.get("requester") not in (None, "CUSTOMER", "ADMIN"):
        return invalid("requester must be CUSTOMER or ADMIN")
    return reason, amounts


def _cancel(
    payment: dict[str, Any] | None,
    reason: str,
    amounts: dict[str, int | None],
    outcome: str,
    now: int,
) -> Reply | dict[str, Any]:
    """Check and record the cancellation in place (under the state lock): it, or a refusal."""
    if payment is None:
        return error(404, "PAYMENT_NOT_FOUND", MSG_NOT_FOUND)
    if payment["status"] == records.CANCELLED:
        return error(409, "PAYMENT_ALREADY_CANCELLED", MSG_ALREADY_CANCELLED)
    if payment["status"] not in (records.PAID, records.PARTIAL_CANCELLED):
        return error(409, "PAYMENT_NOT_PAID", MSG_NOT_PAID)
    balance = records.cancellable(payment)
    if balance <= 0:  # what is left is held by cancels still REQUESTED
        return error(409, "PAYMENT_ALREADY_CANCELLED", MSG_ALREADY_CANCELLED)
    expected = amounts["currentCancellableAmount"]
    if expected is not None and expected != balance:
        message = MSG_CONSISTENCY.format(balance, expected)
        return error(409, "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN", message)
    requested = amounts["amount"] or balance
    if requested > balance:
        message = MSG_EXCEEDS.format(requested, balance)
        return error(409, "CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT", message)
    amount = payment["amount"]
    tax_free_left = amount["taxFree"] - amount["cancelledTaxFree"]
    tax_free = amounts["taxFreeAmount"] or 0
    if tax_free > tax_free_left:
        message = MSG_TAX_FREE_EXCEEDS.format(tax_free, tax_free_left)
        return error(409, "CANCEL_TAX_FREE_AMOUNT_EXCEEDS_CANCELLABLE_TAX_FREE_AMOUNT", message)
    vat = amounts["vatAmount"]
    if vat is None:
        vat = (requested - tax_free) // 11
    cancellation = records.new_cancellation(requested, tax_free, vat, reason, outcome, now)
    records.apply_cancellation(payment, cancellation, now)
    return cancellation


def cancel_payment(ctx: Context, req: Request) -> Reply:
    """`POST /payments/{paymentId}/cancel` on the paymentId's latest attempt.

    `currentCancellableAmount`, when sent, must equal paid − cancelled (− cancels still
    REQUESTED); `amount` omitted cancels the whole balance; `skipWebhook` drops the success
    webhook. `requester`, `refundAccount`, `promotionDiscountRetainOption` are accepted.
    """
    body = req.body
    refusal = store_refusal(ctx, body.get("storeId"))
    if refusal is not None:
        return refusal
    read = _read(body)
    if isinstance(read, Reply):
        return read
    reason, amounts = read
    outcome, now = ctx.state.config.cancel_outcome, ctx.state.now()
    result, payment = ctx.state.update_latest(
        req.params["paymentId"], lambda live: _cancel(live, reason, amounts, outcome, now)
    )
    if isinstance(result, Reply):
        return result
    assert payment is not None  # it was cancelled
    notify_cancellation(ctx, payment, result, skip_success=body.get("skipWebhook") is True)
    return json_reply(200, {"cancellation": result})


def notify_cancellation(
    ctx: Context, payment: dict[str, Any], cancellation: dict[str, Any], skip_success: bool
) -> None:
    """`Transaction.Cancelled` / `.PartialCancelled` for a SUCCEEDED cancellation (unless
    `skipWebhook`), `Transaction.CancelPending` for a REQUESTED one, none for a FAILED one."""
    if cancellation["status"] == records.REQUESTED:
        notify(ctx, payment, "Transaction.CancelPending", cancellation["id"])
    elif cancellation["status"] == records.SUCCEEDED and not skip_success:
        notify(ctx, payment, cancellation_id=cancellation["id"])
