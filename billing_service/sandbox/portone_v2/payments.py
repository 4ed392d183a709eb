"""The faked PortOne V2 payment endpoints: charge a billing key, look a payment up (with its
webhooks), resend a payment's webhook."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import cards as shared_cards
from .. import faults
from ..wire import Reply, Request, json_reply
from . import records
from .billing_keys import channel_not_found, key_deleted, key_not_found
from .channels import channel_by_key
from .wire import (
    SERVER_ERROR_REPLY,
    Context,
    error,
    invalid,
    is_int,
    pg_provider,
    read_party,
    store_refusal,
)

MSG_ALREADY_PAID = "이미 결제가 완료된 결제 건입니다."  # sandbox wording
MSG_NOT_FOUND = "결제 건이 존재하지 않습니다."
MSG_SCHEDULED = "결제 예약 건이 이미 존재합니다."  # sandbox wording
MSG_WEBHOOK_NOT_FOUND = "웹훅 내역이 존재하지 않습니다."  # sandbox wording
# The webhook each status of a new or settled attempt fires (READY fires none).
TRANSACTION_WEBHOOKS = {
    records.PAID: "Transaction.Paid",
    records.FAILED: "Transaction.Failed",
    records.PAY_PENDING: "Transaction.PayPending",
    records.CANCELLED: "Transaction.Cancelled",
    records.PARTIAL_CANCELLED: "Transaction.PartialCancelled",
}
# The PG's answer for each magic charge card: (pgCode, pgMessage).
_FAILURES: dict[str, tuple[str, str]] = {
    shared_cards.CHARGE_DECLINE: (shared_cards.DECLINED_CODE, shared_cards.DECLINED_TEXT),
    shared_cards.CHARGE_REFUSE: (shared_cards.REFUSING_CODE, shared_cards.REFUSING_TEXT),
}

PAY_ROUTE = "/payments/{paymentId}/billing-key"


def _amount(body: dict[str, Any]) -> tuple[int, int, int] | Reply:
    amount = body.get("amount")
    if not isinstance(amount, dict) or not is_int(amount.get("total")) or amount["total"] <= 0:
        return invalid("amount.total must be an int > 0")
    total, tax_free = amount["total"], amount.get("taxFree", 0)
    if not is_int(tax_free) or not 0 <= tax_free <= total:
        return invalid("amount.taxFree must be an int between 0 and amount.total")
    # The documented default VAT: a tenth of the taxed part's supply value, (total - taxFree)/11.
    vat = amount.get("vat", (total - tax_free) // 11)
    if not is_int(vat) or vat < 0:
        return invalid("amount.vat must be an int >= 0")
    return total, tax_free, vat


def read_order(payment_id: str, body: dict[str, Any]) -> records.Order | Reply:
    for name in ("billingKey", "orderName", "currency"):
        if not isinstance(body.get(name), str) or not body[name]:
            return invalid(f"{name} is required")
    amounts = _amount(body)
    if isinstance(amounts, Reply):
        return amounts
    installment = body.get("installmentMonth")
    if installment is not None and (not is_int(installment) or installment < 0):
        return invalid("installmentMonth must be an int >= 0")
    party = read_party(body)
    if isinstance(party, Reply):
        return party
    return records.Order(
        payment_id=payment_id,
        billing_key=body["billingKey"],
        order_name=body["orderName"],
        total=amounts[0],
        tax_free=amounts[1],
        vat=amounts[2],
        currency=body["currency"],
        installment_month=installment,
        customer=records.customer_json(party.customer),
        custom_data=party.custom_data,
    )


def pay_with_billing_key(ctx: Context, req: Request) -> Reply | None:
    """`POST /payments/{paymentId}/billing-key`: charge a stored billing key.

    Approved: 200 `{payment: {pgTxId, paidAt}}` (read the payment for the rest). Declined by
    a magic card: 502 PG_PROVIDER, leaving a FAILED attempt (switch `decline_records_payment`).
    The attempt's webhook goes to its `noticeUrls` (else the console URL); `skipWebhook`
    drops a `Transaction.Paid` only. `products`, `bypass` and the rest are accepted.
    """
    body = req.body
    refusal = store_refusal(ctx, body.get("storeId"))
    if refusal is not None:
        return refusal
    reply, attempt = charge(ctx, req.params["paymentId"], body)
    if attempt is not None and not (
        body.get("skipWebhook") is True and attempt["status"] == records.PAID
    ):
        notify(ctx, attempt)
    return reply


def notify(
    ctx: Context,
    payment: dict[str, Any],
    kind: str | None = None,
    cancellation_id: str | None = None,
) -> None:
    """Queue the payment's webhook: `kind`, else the one its status fires (none for READY)."""
    kind = kind or TRANSACTION_WEBHOOKS.get(payment["status"])
    if kind is None:
        return
    data = {
        "storeId": payment["storeId"],
        "paymentId": payment["id"],
        "transactionId": payment["transactionId"],
    }
    if cancellation_id is not None:
        data["cancellationId"] = cancellation_id
    ctx.webhooks.emit(kind, data, ctx.state.notice_urls(payment["id"]), payment["status"])


def charge(
    ctx: Context, payment_id: str, body: dict[str, Any]
) -> tuple[Reply | None, dict[str, Any] | None]:
    """Charge the key as `body` asks: (the answer, the attempt recorded or None). No webhook:
    the caller sends it once its own records are up to date."""
    order = read_order(payment_id, body)
    if isinstance(order, Reply):
        return order, None
    if payment_id.startswith(faults.FAULT_LOST):
        return None, None
    if payment_id.startswith(faults.FAULT_500):
        return SERVER_ERROR_REPLY, None
    if ctx.state.scheduled_payment(payment_id):
        return error(409, "PAYMENT_SCHEDULE_ALREADY_EXISTS", MSG_SCHEDULED), None
    found = ctx.state.get_key(order.billing_key)
    if found is None:
        return key_not_found(), None
    key, behaviour = found
    if key["status"] == "DELETED":
        return key_deleted(), None
    channel = key["channels"][0]
    requested = body.get("channelKey")
    if requested is not None and requested != channel["key"]:
        # A key is issued on one channel here: another (even a known one) is not the key's.
        refusal = (
            channel_not_found()
            if channel_by_key(str(requested)) is None
            else invalid("channelKey is not a channel of this billing key")
        )
        return refusal, None
    if not order.customer:
        order = dataclasses.replace(order, customer=key["customer"])
    status, failure = _outcome(payment_id, behaviour)
    config = ctx.state.config  # one snapshot: a concurrent config change cannot mix variants
    recorded = status != records.FAILED or config.decline_records_payment
    now = ctx.state.now()
    attempt: dict[str, Any] | None = None
    if recorded:
        attempt = ctx.state.add_attempt(
            payment_id,
            lambda: records.new_attempt(order, key, channel, status, now, failure),
            config.failed_blocks_payment_id,
        )
        if attempt is None:
            return error(409, "ALREADY_PAID", MSG_ALREADY_PAID), None
        ctx.state.set_notice_urls(payment_id, body.get("noticeUrls"))
    elif ctx.state.payment_id_taken(payment_id, config.failed_blocks_payment_id):
        return error(409, "ALREADY_PAID", MSG_ALREADY_PAID), None
    return _answer(ctx, payment_id, status, failure, attempt), attempt


def _outcome(payment_id: str, behaviour: str) -> tuple[str, tuple[str, str] | None]:
    """The attempt's status (and the PG's failure) for this paymentId and card."""
    if payment_id.startswith(faults.FAULT_READY):
        return records.READY, None  # the PG never answered
    if payment_id.startswith(faults.PENDING):
        return records.PAY_PENDING, None
    failure = _FAILURES.get(behaviour)
    return (records.FAILED, failure) if failure is not None else (records.PAID, None)


def _answer(
    ctx: Context,
    payment_id: str,
    status: str,
    failure: tuple[str, str] | None,
    attempt: dict[str, Any] | None,
) -> Reply:
    if failure is not None:
        reply = pg_provider(records.MSG_PG_FAILED, *failure)
    else:
        assert attempt is not None  # an approved or pending charge is always recorded
        # A pending approval answers as PortOne's summary allows: paidAt is the request time.
        paid_at = attempt.get("paidAt", attempt["requestedAt"])
        summary = {"pgTxId": attempt.get("pgTxId", ""), "paidAt": paid_at}
        reply = json_reply(200, {"payment": summary})
    return faults.slowed(reply, faults.pace_of(payment_id), ctx.hang_seconds)


def lost_after_processing(route: str, req: Request) -> bool:
    """A charge whose answer never comes (`fault-drop-`, `fault-ready-`): processed, then reset."""
    payment_id = req.params.get("paymentId", "")
    return route == PAY_ROUTE and payment_id.startswith((faults.FAULT_DROP, faults.FAULT_READY))


def never_answered(route: str, req: Request) -> bool:
    """A charge the PG never answers (`fault-ready-`): PortOne has no answer to keep."""
    return route == PAY_ROUTE and req.params.get("paymentId", "").startswith(faults.FAULT_READY)


def get_payment(ctx: Context, req: Request) -> Reply:
    """`GET /payments/{paymentId}`: the latest attempt of the paymentId."""
    refusal = store_refusal(ctx, req.query.get("storeId"))
    if refusal is not None:
        return refusal
    payment = ctx.state.latest(req.params["paymentId"])
    if payment is None:
        return error(404, "PAYMENT_NOT_FOUND", MSG_NOT_FOUND)
    webhooks = ctx.webhooks.of_payment(payment["id"])
    return json_reply(200, {**payment, "webhooks": webhooks} if webhooks else payment)


def resend_webhook(ctx: Context, req: Request) -> Reply:
    """`POST /payments/{paymentId}/resend-webhook` `{webhookId?}`: send one of the payment's
    webhooks again (its latest when no id), same id and body; 200 `{webhook}`."""
    body = req.body
    refusal = store_refusal(ctx, body.get("storeId"))
    if refusal is not None:
        return refusal
    payment_id, wanted = req.params["paymentId"], body.get("webhookId")
    if ctx.state.latest(payment_id) is None:
        return error(404, "PAYMENT_NOT_FOUND", MSG_NOT_FOUND)
    webhooks = ctx.webhooks.of_payment(payment_id)
    chosen = [hook for hook in webhooks if wanted is None or hook["id"] == wanted][-1:]
    if not chosen or not ctx.webhooks.resend(chosen[0]["id"], 1):
        return error(404, "WEBHOOK_NOT_FOUND", MSG_WEBHOOK_NOT_FOUND)
    return json_reply(200, {"webhook": {**chosen[0], "trigger": "MANUAL"}})
