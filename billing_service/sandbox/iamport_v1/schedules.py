"""Scheduled payments: schedule, look up, list, unschedule, and their execution.

A schedule executes once the sandbox clock reaches its `schedule_at`: in real time, from the
scheduler thread that sleeps until the next due time, or at once when `POST /__sandbox__/clock`
moves the clock past it. An execution charges the billing key like `again`, always records a
payment (`customer_uid_usage` `payment.scheduled`) and notifies it, paid or failed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..wire import Reply, Request
from . import cards, payments, records
from .billing_keys import issue_billing_key
from .payments import MAX_MERCHANT_UID_LENGTH, MSG_INVALID, MSG_MISSING, MSG_TOO_LONG
from .wire import MAX_CUSTOMER_UID_LENGTH, Context, envelope

SCHEDULED, EXECUTED, REVOKED = "scheduled", "executed", "revoked"
SCHEDULE_STATUSES = (SCHEDULED, EXECUTED, REVOKED)
PAGE_SIZE = 20  # the list's default `limit`
MAX_WINDOW_SECONDS = 90 * 86400  # range lookups span at most 3 months

# python PR #45 (2021-08); before 2021 the text was 등록되지 않은 구매자입니다.
MSG_NO_CUSTOMER = "등록된 고객정보가 없습니다."
MSG_NOTHING_TO_REVOKE = "취소할 예약결제 기록이 존재하지 않습니다."
# Sandbox wording (the real texts are unknown).
MSG_SCHEDULE_DUPLICATE = "이미 예약 또는 결제된 merchant_uid({})입니다."
MSG_SCHEDULE_NOT_FOUND = "요청하신 merchant_uid({})로 예약된 결제정보를 찾을 수 없습니다."
MSG_WINDOW_TOO_WIDE = "조회기간은 최대 3개월(90일)까지 지정할 수 있습니다."

_DIGITS = re.compile(r"\d+")
_INDEXED = re.compile(r"(\w+)\[(\d*)\](?:\[(\w+)\])?")  # `schedules[0][amount]`, `uid[]`


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(item: dict[str, Any], name: str) -> str | None:
    """A field as a string (numbers stringified; objects, lists and booleans ignored)."""
    value = item.get(name)
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return value if isinstance(value, str) else str(value)


def _unix_seconds(value: Any) -> int | None:
    """A JSON integer or a string of digits; None for anything else (floats, booleans)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _indexed_form(body: dict[str, Any], name: str) -> list[Any] | None:
    """Rebuild a list from bracketed form keys: `schedules[0][merchant_uid]=…` gives
    `[{"merchant_uid": …}]`, `merchant_uid[0]=a` gives `["a"]`. None when there are none."""
    items: dict[int, Any] = {}
    for key, value in body.items():
        match = _INDEXED.fullmatch(key)
        if match is None or match[1] != name:
            continue
        index = int(match[2] or 0)
        if match[3] is None:
            items[index] = value
        else:
            entry = items.setdefault(index, {})
            if isinstance(entry, dict):
                entry[match[3]] = value
    return [items[index] for index in sorted(items)] if items else None


# --- POST /subscribe/payments/schedule ---

_Entry = tuple[dict[str, Any], str | None, int]  # (ScheduleResult, notice_url, card_quota)


def _read_schedule(item: Any, key: dict[str, Any]) -> _Entry | Reply:
    """One entry of `schedules`, validated: (its ScheduleResult, notice_url, card_quota)."""
    if not isinstance(item, dict):
        return envelope(400, -1, MSG_INVALID.format("schedules"))
    missing = [
        name for name in ("merchant_uid", "schedule_at", "amount", "name") if _blank(item.get(name))
    ]
    if missing:
        return envelope(400, -1, MSG_MISSING.format(", ".join(missing)))
    merchant_uid, name = _text(item, "merchant_uid"), _text(item, "name")
    if merchant_uid is None or name is None:
        return envelope(400, -1, MSG_INVALID.format("merchant_uid, name"))
    if len(merchant_uid) > MAX_MERCHANT_UID_LENGTH:
        return envelope(400, -1, MSG_TOO_LONG.format("merchant_uid", MAX_MERCHANT_UID_LENGTH))
    schedule_at = _unix_seconds(item["schedule_at"])
    if schedule_at is None or schedule_at <= 0:
        return envelope(400, -1, MSG_INVALID.format("schedule_at"))
    amount = payments._number(item["amount"])
    if amount is None or amount <= 0:
        return envelope(400, -1, MSG_INVALID.format("amount"))
    card_quota = 0
    if not _blank(item.get("card_quota")):
        quota = payments._number(item["card_quota"])
        if not isinstance(quota, int) or quota < 0:
            return envelope(400, -1, MSG_INVALID.format("card_quota"))
        card_quota = quota
    result: dict[str, Any] = {
        "amount": amount,
        **{
            # As documented for schedules: omitted buyer fields take the key's customer_x.
            f"buyer_{part}": _text(item, f"buyer_{part}") or key.get(f"customer_{part}")
            for part in sorted(records.BUYER_FIELDS)
        },
        "currency": _text(item, "currency") or "KRW",
        "custom_data": records.custom_data_text(item.get("custom_data")),
        "customer_id": key.get("customer_id"),
        "customer_uid": key["customer_uid"],
        "executed_at": 0,
        "fail_reason": None,
        "imp_uid": None,
        "merchant_uid": merchant_uid,
        "name": name,
        "payment_status": None,
        "pg_id": key["pg_id"],
        "pg_provider": key["pg_provider"],
        "promotion_id": _text(item, "promotion_id"),
        "revoked_at": 0,
        "schedule_at": schedule_at,
        "schedule_status": SCHEDULED,
    }
    return result, _text(item, "notice_url") or None, card_quota


def _read_schedules(raw: list[Any], key: dict[str, Any]) -> list[_Entry] | Reply:
    entries = []
    for item in raw:
        entry = _read_schedule(item, key)
        if isinstance(entry, Reply):
            return entry
        entries.append(entry)
    return entries


def _issued(reply: Reply | None) -> bool:
    if reply is None or reply.status != 200:
        return False
    try:
        return bool(json.loads(reply.body).get("code") == 0)
    except ValueError:
        return False


def schedule_payments(ctx: Context, req: Request) -> Reply | None:
    """`POST /subscribe/payments/schedule`: store every schedule, or none.

    Order of checks: the body (400), the customer (no key and no card fields: code 1), the
    merchant_uids (one already scheduled or paid, or repeated: code 1). A customer without a
    key but with card fields gets one issued first by the issuance endpoint's handler; a
    refused card answers as the issuance would.
    """
    customer_uid = req.field("customer_uid")
    if customer_uid is None or not customer_uid.strip():
        return envelope(400, -1, MSG_MISSING.format("customer_uid"))
    if len(customer_uid) > MAX_CUSTOMER_UID_LENGTH:
        return envelope(400, -1, MSG_TOO_LONG.format("customer_uid", MAX_CUSTOMER_UID_LENGTH))
    raw = req.body.get("schedules")
    if raw is None:
        raw = _indexed_form(req.body, "schedules")
    if isinstance(raw, str):  # a form field holding the JSON text of the array
        try:
            raw = json.loads(raw)
        except ValueError:
            return envelope(400, -1, MSG_INVALID.format("schedules"))
    if raw is None or raw == []:
        return envelope(400, -1, MSG_MISSING.format("schedules"))
    if not isinstance(raw, list):
        return envelope(400, -1, MSG_INVALID.format("schedules"))

    billing_key = ctx.state.get_customer(customer_uid)
    has_card = any(not _blank(req.body.get(name)) for name in cards.CARD_FIELDS)
    # Validated against a stand-in key first, so a bad body never issues a key.
    key = billing_key or {"customer_uid": customer_uid, "pg_id": None, "pg_provider": None}
    entries = _read_schedules(raw, key)
    if isinstance(entries, Reply):
        return entries
    if billing_key is None and not has_card:
        return envelope(200, 1, MSG_NO_CUSTOMER)
    merchant_uids = [result["merchant_uid"] for result, _, _ in entries]
    taken = ctx.state.schedule_taken(merchant_uids)
    if taken is None:
        taken = next((uid for i, uid in enumerate(merchant_uids) if uid in merchant_uids[:i]), None)
    if taken is not None:
        return envelope(200, 1, MSG_SCHEDULE_DUPLICATE.format(taken))
    if billing_key is None:
        params = {"customer_uid": customer_uid}
        path = f"/subscribe/customers/{customer_uid}"
        reply = issue_billing_key(ctx, Request("POST", path, params, {}, req.body))
        if not _issued(reply):
            return reply
        billing_key = ctx.state.get_customer(customer_uid)
        if billing_key is None:  # deleted meanwhile
            return envelope(200, 1, MSG_NO_CUSTOMER)
        entries = _read_schedules(raw, billing_key)  # the same body: valid again
        if isinstance(entries, Reply):
            return entries
    stored = ctx.state.add_schedules(entries)
    if isinstance(stored, str):  # taken by a concurrent request
        return envelope(200, 1, MSG_SCHEDULE_DUPLICATE.format(stored))
    return envelope(200, 0, None, stored)


# --- lookups ---


def get_schedule(ctx: Context, req: Request) -> Reply:
    """`GET /subscribe/payments/schedule/{merchant_uid}`: one ScheduleResult, or 404."""
    merchant_uid = req.params["merchant_uid"]
    result = ctx.state.get_schedule(merchant_uid)
    if result is None:
        return envelope(404, -1, MSG_SCHEDULE_NOT_FOUND.format(merchant_uid))
    return envelope(200, 0, None, result)


def list_customer_schedules(ctx: Context, req: Request) -> Reply:
    """`GET /subscribe/payments/schedule/customers/{customer_uid}?from&to&schedule-status&page`.

    `{"total", "previous", "next", "list"}`, by schedule_at, 20 a page; `previous` / `next`
    are page numbers, 0 when there is none.
    """
    missing = [name for name in ("from", "to") if _blank(req.query.get(name))]
    if missing:
        return envelope(400, -1, MSG_MISSING.format(", ".join(missing)))
    start, end = _unix_seconds(req.query["from"]), _unix_seconds(req.query["to"])
    if start is None:
        return envelope(400, -1, MSG_INVALID.format("from"))
    if end is None or end < start:
        return envelope(400, -1, MSG_INVALID.format("to"))
    if end - start > MAX_WINDOW_SECONDS:
        return envelope(400, -1, MSG_WINDOW_TOO_WIDE)
    status = req.query.get("schedule-status") or None
    if status is not None and status not in SCHEDULE_STATUSES:
        return envelope(400, -1, MSG_INVALID.format("schedule-status"))
    page = _unix_seconds(req.query.get("page") or "1")
    if page is None or page < 1:
        return envelope(400, -1, MSG_INVALID.format("page"))
    found = ctx.state.customer_schedules(req.params["customer_uid"], start, end, status)
    first = (page - 1) * PAGE_SIZE
    listing = {
        "total": len(found),
        "previous": page - 1 if page > 1 else 0,
        "next": page + 1 if first + PAGE_SIZE < len(found) else 0,
        "list": found[first : first + PAGE_SIZE],
    }
    return envelope(200, 0, None, listing)


# --- POST /subscribe/payments/unschedule ---


def unschedule(ctx: Context, req: Request) -> Reply:
    """Revoke the customer's `scheduled` schedules (all of them, or the listed merchant_uids).

    Executed and revoked ones stay as they are; nothing revoked answers code 1.
    """
    customer_uid = req.field("customer_uid") or None
    raw = req.body.get("merchant_uid")
    if raw is None:
        raw = _indexed_form(req.body, "merchant_uid")
    merchant_uids: list[str] | None
    if raw is None or raw == "":
        merchant_uids = None
    elif isinstance(raw, str):
        merchant_uids = [raw]
    elif isinstance(raw, list) and all(isinstance(uid, str) for uid in raw):
        merchant_uids = raw
    else:
        return envelope(400, -1, MSG_INVALID.format("merchant_uid"))
    if customer_uid is None and merchant_uids is None:
        return envelope(400, -1, MSG_MISSING.format("customer_uid 또는 merchant_uid"))
    revoked = ctx.state.revoke_schedules(customer_uid, merchant_uids, ctx.state.now())
    if not revoked:
        return envelope(200, 1, MSG_NOTHING_TO_REVOKE)
    return envelope(200, 0, None, revoked)


# --- execution ---


def execute_due(ctx: Context) -> list[str]:
    """Execute everything due on the sandbox clock, in schedule_at order; the merchant_uids.

    Each execution is recorded on its schedule before its notice is queued, so a receiver that
    looks the schedule up finds it executed.
    """
    executed: list[str] = []
    with ctx.state.execution_lock:
        while due := ctx.state.claim_due(ctx.state.now()):
            for result, notice_url, card_quota in due:
                now = ctx.state.now()
                payment = payments.charge_scheduled(ctx, result, notice_url, card_quota, now)
                ctx.state.finish_schedule(result["merchant_uid"], payment, now)
                ctx.notices.notify(notice_url, records.notice_body(payment))
                executed.append(result["merchant_uid"])
    return executed
