"""Payment schedules: `POST /payments/{paymentId}/schedule`, look up, revoke, and their
execution on the sandbox clock (listing: `search.py`).

A schedule runs once the sandbox clock reaches its `timeToPay`: from the scheduler thread that
sleeps until the next one is due, or at once when `POST /__sandbox__/clock` moves the clock
past it. It goes STARTED, charges its key as a direct charge would (the same magic cards and
paymentId prefixes), then SUCCEEDED, FAILED, or PENDING (`pending-`: awaiting the PG); a
`fault-ready-` charge the PG never answers leaves it STARTED. Its webhook is queued after the
schedule is complete, so a receiver reading it back finds it done.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

from ..wire import Reply, Request, json_reply
from . import records
from .billing_keys import key_deleted, key_not_found
from .channels import MERCHANT_ID
from .payments import charge, notify, read_order
from .state import SCHEDULED, STARTED
from .wire import Context, error, invalid, parse_time, query_or_body, rfc3339, store_refusal

REVOKED, PENDING, SUCCEEDED = "REVOKED", "PENDING", "SUCCEEDED"
FAILED = records.FAILED
# A schedule in one of these holds its paymentId: scheduling it again is 409.
HOLDING = frozenset({SCHEDULED, STARTED, PENDING, SUCCEEDED})

# Sandbox wording: PortOne's texts are not documented.
MSG_EXISTS = "이미 결제 예약 건이 존재합니다."
MSG_PAID_OR_WAITING = "이미 결제되었거나 결제 대기 중인 결제 건입니다."
MSG_NOT_FOUND = "결제 예약 건이 존재하지 않습니다."
MSG_PROCESSED = "이미 처리된 결제 예약 건입니다."
MSG_REVOKED = "이미 취소된 결제 예약 건입니다."
# What the attempt's status makes of a schedule that charged.
_COMPLETED = {
    records.PAID: SUCCEEDED,
    records.FAILED: FAILED,
    records.PAY_PENDING: PENDING,
    records.READY: STARTED,
}


def schedule_exists() -> Reply:
    return error(409, "PAYMENT_SCHEDULE_ALREADY_EXISTS", MSG_EXISTS)


def _new_schedule(
    order: records.Order, body: dict[str, Any], due: float, now: int, store_id: str
) -> dict[str, Any]:
    """A SCHEDULED PaymentSchedule with every field the SDK requires."""
    info: dict[str, Any] = {
        "status": SCHEDULED,
        "id": str(uuid.uuid4()),
        "merchantId": MERCHANT_ID,
        "storeId": store_id,
        "paymentId": order.payment_id,
        "billingKey": order.billing_key,
        "orderName": order.order_name,
        "isCulturalExpense": False,
        "isEscrow": False,
        "customer": order.customer,
        "customData": order.custom_data or "",
        "totalAmount": order.total,
        "taxFreeAmount": order.tax_free,
        "vatAmount": order.vat,
        "currency": order.currency,
        "createdAt": rfc3339(now),
        "timeToPay": rfc3339(due),
    }
    if order.installment_month is not None:
        info["installmentMonth"] = order.installment_month
    if body.get("noticeUrls"):
        info["noticeUrls"] = list(body["noticeUrls"])
    return info


def _refusal(ctx: Context, order: records.Order) -> Reply | None:
    """Why this paymentId and key cannot be scheduled now (under the state lock), or None."""
    found = ctx.state.get_key(order.billing_key)
    if found is None:
        return key_not_found()
    if found[0]["status"] == "DELETED":
        return key_deleted()
    config = ctx.state.config
    for _, info in ctx.state.schedules():
        if info["paymentId"] != order.payment_id:
            continue
        if info["status"] in HOLDING or (
            info["status"] == REVOKED and not config.reschedule_revoked
        ):
            return schedule_exists()
    latest = ctx.state.latest(order.payment_id)
    waiting = latest is not None and latest["status"] in (records.READY, records.PAY_PENDING)
    if waiting or ctx.state.payment_id_taken(order.payment_id, config.failed_blocks_payment_id):
        return error(409, "ALREADY_PAID_OR_WAITING", MSG_PAID_OR_WAITING)
    return None


def create_schedule(ctx: Context, req: Request) -> Reply:
    """`POST /payments/{paymentId}/schedule` `{payment, timeToPay}`: 200 `{schedule: {id}}`.

    `payment` is a charge's body (`skipWebhook` excluded); a `timeToPay` already past runs at
    once.
    """
    payment, due = req.body.get("payment"), parse_time(req.body.get("timeToPay"))
    if not isinstance(payment, dict):
        return invalid("payment must be an object")
    if due is None:
        return invalid("timeToPay must be an RFC 3339 time")
    refusal = store_refusal(ctx, payment.get("storeId") or req.body.get("storeId"))
    if refusal is not None:
        return refusal
    order = read_order(req.params["paymentId"], payment)
    if isinstance(order, Reply):
        return order
    with ctx.state.atomic():
        refusal = _refusal(ctx, order)
        if refusal is not None:
            return refusal
        if not order.customer:
            key = ctx.state.get_key(order.billing_key)
            assert key is not None  # checked above, under the same lock
            order = dataclasses.replace(order, customer=key[0]["customer"])
        info = _new_schedule(order, payment, due, ctx.state.now(), ctx.state.store_id)
        ctx.state.add_schedule(info, dict(payment), due)
    return json_reply(200, {"schedule": {"id": info["id"]}})


def get_schedule(ctx: Context, req: Request) -> Reply:
    """`GET /payment-schedules/{paymentScheduleId}`."""
    refusal = store_refusal(ctx, req.query.get("storeId"))
    if refusal is not None:
        return refusal
    info = ctx.state.schedule(req.params["paymentScheduleId"])
    if info is None:
        return error(404, "PAYMENT_SCHEDULE_NOT_FOUND", MSG_NOT_FOUND)
    return json_reply(200, info)


# --- DELETE /payment-schedules ---


def _chosen(
    ctx: Context, billing_key: str | None, ids: list[str] | None
) -> list[dict[str, Any]] | Reply:
    """The schedules to revoke (under the state lock), or why none is: all or nothing."""
    if billing_key is not None:
        found = ctx.state.get_key(billing_key)
        if found is None:
            return key_not_found()
        if found[0]["status"] == "DELETED":
            return key_deleted()
    if ids is None:
        chosen = [
            info
            for _, info in sorted(ctx.state.schedules(), key=lambda pair: pair[0])
            if info["billingKey"] == billing_key and info["status"] == SCHEDULED
        ]
        if not chosen and ctx.state.config.revoke_nothing == "error":
            return error(404, "PAYMENT_SCHEDULE_NOT_FOUND", MSG_NOT_FOUND)
        return chosen
    chosen = []
    for schedule_id in ids:
        info = ctx.state.schedule(schedule_id)
        if info is None or (billing_key is not None and info["billingKey"] != billing_key):
            return error(404, "PAYMENT_SCHEDULE_NOT_FOUND", MSG_NOT_FOUND)
        if info["status"] == REVOKED:
            return error(409, "PAYMENT_SCHEDULE_ALREADY_REVOKED", MSG_REVOKED)
        if info["status"] != SCHEDULED:
            return error(409, "PAYMENT_SCHEDULE_ALREADY_PROCESSED", MSG_PROCESSED)
        chosen.append(info)
    return chosen


def _revoke(info: dict[str, Any], now: int) -> None:
    info["status"] = REVOKED
    info["revokedAt"] = rfc3339(now)


def revoke_schedules(ctx: Context, req: Request) -> Reply:
    """`DELETE /payment-schedules` `{billingKey?, scheduleIds?}` (body or `?requestBody=`):
    every SCHEDULED one of the key, or the ids given; one refusal revokes none."""
    body = query_or_body(req)
    if isinstance(body, Reply):
        return body
    refusal = store_refusal(ctx, body.get("storeId"))
    if refusal is not None:
        return refusal
    billing_key, ids = body.get("billingKey"), body.get("scheduleIds")
    if billing_key is None and ids is None:
        return invalid("billingKey or scheduleIds is required")
    if billing_key is not None and not isinstance(billing_key, str):
        return invalid("billingKey must be a string")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        return invalid("scheduleIds must be a list of strings")
    now = ctx.state.now()
    with ctx.state.atomic():
        chosen = _chosen(ctx, billing_key, ids)
        if isinstance(chosen, Reply):
            return chosen
        for info in chosen:
            ctx.state.update_schedule(info["id"], lambda live: _revoke(live, now))
    answer: dict[str, Any] = {"revokedScheduleIds": [info["id"] for info in chosen]}
    if chosen:
        answer["revokedAt"] = rfc3339(now)
    return json_reply(200, answer)


# --- execution ---


def _started(now: int) -> Callable[[dict[str, Any]], None]:
    def start(info: dict[str, Any]) -> None:
        info["status"] = STARTED
        info["startedAt"] = rfc3339(now)

    return start


def complete(info: dict[str, Any], payment: dict[str, Any] | None, now: int) -> None:
    """A STARTED (or PENDING) schedule as its payment's status makes it, in place."""
    status = _COMPLETED.get(payment["status"], FAILED) if payment is not None else FAILED
    info["status"] = status
    if status != STARTED:
        info["completedAt"] = rfc3339(now)


def _mark_scheduled(schedule_id: str) -> Callable[[dict[str, Any] | None], None]:
    def mark(payment: dict[str, Any] | None) -> None:
        if payment is not None:
            payment["scheduleId"] = schedule_id

    return mark


def _execute(ctx: Context, info: dict[str, Any], payment_input: dict[str, Any]) -> None:
    """Charge a STARTED schedule, complete it, then queue the payment's webhook."""
    _, attempt = charge(ctx, info["paymentId"], payment_input)
    if attempt is not None:
        _, attempt = ctx.state.update_latest(attempt["id"], _mark_scheduled(info["id"]))
    done = ctx.state.now()
    ctx.state.update_schedule(info["id"], lambda live: complete(live, attempt, done))
    if attempt is not None:
        notify(ctx, attempt)


def execute_due(ctx: Context) -> list[str]:
    """Run everything due on the sandbox clock, by timeToPay; the schedule ids."""
    executed: list[str] = []
    with ctx.state.execution_lock:
        while due := ctx.state.claim_due(ctx.state.now(), _started(ctx.state.now())):
            for info, payment_input in due:
                _execute(ctx, info, payment_input)
                executed.append(info["id"])
    return executed
