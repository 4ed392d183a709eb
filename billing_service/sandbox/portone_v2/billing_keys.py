"""The faked PortOne V2 billing-key endpoints: issue, look up, delete (search: `search.py`),
and their `BillingKey.Issued` / `BillingKey.Deleted` webhooks."""

from __future__ import annotations

from typing import Any

from .. import cards as shared_cards
from .. import faults
from ..wire import Reply, Request, json_reply
from . import cards, records
from .channels import Channel, channel_by_key
from .wire import (
    MSG_SERVER_ERROR,
    Context,
    error,
    invalid,
    pg_provider,
    read_party,
    rfc3339,
    store_refusal,
)

# PortOne's `message` beside the PG's (sandbox wording).
MSG_ISSUE_FAILED = "카드정보 인증 및 빌키 발급에 실패하였습니다."
BAD_NUMBER = ("F112", "유효하지않은 카드번호를 입력하셨습니다.")
BAD_EXPIRY = ("F113", "유효기간이 올바르지 않습니다.")
BAD_BIRTH_OR_PASSWORD = ("F114", "생년월일 또는 비밀번호가 일치하지 않습니다.")
REFUSED = (shared_cards.REFUSED_CODE, shared_cards.REFUSED_TEXT)
MSG_CHANNEL_NOT_FOUND = "채널을 찾을 수 없습니다."
MSG_KEY_NOT_FOUND = "빌링키가 존재하지 않습니다."
MSG_KEY_DELETED = "빌링키가 이미 삭제되었습니다."
MSG_KEY_SCHEDULED = "빌링키에 예약된 결제 건이 있습니다. 결제 예약을 먼저 취소해 주세요."  # sandbox

MAINTENANCE_PAGE = (
    '<!DOCTYPE html>\n<html lang="ko"><head><meta charset="utf-8">'
    "<title>서비스 점검 안내</title></head>\n<body><h1>서비스 점검 중입니다</h1>"
    "<p>보다 나은 서비스를 위해 시스템 점검을 진행하고 있습니다. 잠시 후 다시 시도해 주세요.</p>"
    "</body></html>\n"
).encode()


def channel_not_found() -> Reply:
    return error(404, "CHANNEL_NOT_FOUND", MSG_CHANNEL_NOT_FOUND)


def key_not_found() -> Reply:
    return error(404, "BILLING_KEY_NOT_FOUND", MSG_KEY_NOT_FOUND)


def key_deleted() -> Reply:
    return error(409, "BILLING_KEY_ALREADY_DELETED", MSG_KEY_DELETED)


def _refused(failure: tuple[str, str]) -> Reply:
    # The card company's refusal comes back through the PG: 502 PG_PROVIDER, nothing stored.
    return pg_provider(MSG_ISSUE_FAILED, *failure)


def _channel(body: dict[str, Any]) -> Channel | Reply:
    key, group = body.get("channelKey"), body.get("channelGroupId")
    if key is None and group is None:
        return invalid("channelKey or channelGroupId is required")
    if group is not None:
        # The sandbox has no channel group (smart routing): every group id is unknown.
        return channel_not_found() if isinstance(group, str) else invalid("bad channelGroupId")
    if not isinstance(key, str):
        return invalid("channelKey must be a string")
    channel = channel_by_key(key)
    return channel if channel is not None else channel_not_found()


def issue_billing_key(ctx: Context, req: Request) -> Reply | None:
    """`POST /billing-keys`: check the card as the card company would, then store the key.

    The raw card fields are read here and dropped; only the masked card and the charge
    behaviour of a magic card ever reach the state.
    """
    body = req.body
    refusal = store_refusal(ctx, body.get("storeId"))
    if refusal is not None:
        return refusal
    credential = cards.read_credential(body)
    if isinstance(credential, str):
        return invalid(credential)
    party = read_party(body)
    if isinstance(party, Reply):
        return party
    channel = _channel(body)  # choosing the channel comes before any card company is asked
    if isinstance(channel, Reply):
        return channel
    digits = credential.digits
    if not cards.card_number_valid(digits):
        return _refused(BAD_NUMBER)
    fault = shared_cards.FAULTS.get(digits)
    if fault == shared_cards.FAULT_HTTP_500:
        return error(500, "INTERNAL_SERVER_ERROR", MSG_SERVER_ERROR)
    if fault == shared_cards.FAULT_HTML:
        # A load balancer / maintenance page in front of the API: 200 but not JSON.
        return Reply(200, MAINTENANCE_PAGE, "text/html; charset=UTF-8")
    if fault == shared_cards.FAULT_RESET:
        return None
    now = ctx.state.now()
    if not shared_cards.month_not_past(credential.year, credential.month, now):
        return _refused(BAD_EXPIRY)
    if not shared_cards.birth_valid(credential.birth, credential.password):
        return _refused(BAD_BIRTH_OR_PASSWORD)
    if digits == shared_cards.REFUSED_CARD:
        return _refused(REFUSED)
    card = cards.card_json(digits, len(credential.birth or "") == 10, channel)
    info = records.new_billing_key(
        now,
        ctx.state.store_id,
        channel.as_json(),
        card,
        records.customer_json(party.customer),
        party.custom_data,
    )
    # Only the flag derived from a magic card is kept, so later charges can be declined.
    info = ctx.state.add_key(info, shared_cards.charge_behaviour(digits), party.notice_urls)
    if body.get("skipWebhook") is not True:
        _notify(ctx, "BillingKey.Issued", info)
    summary = {
        "billingKey": info["billingKey"],
        "issuedAt": info["issuedAt"],
        "channels": info["channels"],
    }
    reply = json_reply(200, {"billingKeyInfo": summary})
    return faults.slowed(reply, fault, ctx.hang_seconds)


def get_billing_key(ctx: Context, req: Request) -> Reply:
    """`GET /billing-keys/{billingKey}`: ISSUED or DELETED (a deleted key stays readable)."""
    refusal = store_refusal(ctx, req.query.get("storeId"))
    if refusal is not None:
        return refusal
    found = ctx.state.get_key(req.params["billingKey"])
    return key_not_found() if found is None else json_reply(200, found[0])


def _notify(ctx: Context, kind: str, info: dict[str, Any]) -> None:
    """The key's webhook, to its issuance's noticeUrls, else the console URL."""
    data = {"storeId": info["storeId"], "billingKey": info["billingKey"]}
    ctx.webhooks.emit(kind, data, ctx.state.key_notice_urls(info["billingKey"]))


def _delete(ctx: Context, info: dict[str, Any] | None, now: int) -> Reply | None:
    if info is None:
        return key_not_found()
    if info["status"] == "DELETED":
        return key_deleted()
    if ctx.state.live_schedules_on_key(info["billingKey"]):
        return error(409, "PAYMENT_SCHEDULE_ALREADY_EXISTS", MSG_KEY_SCHEDULED)
    info["status"] = "DELETED"
    info["deletedAt"] = rfc3339(now)
    return None


def delete_billing_key(ctx: Context, req: Request) -> Reply:
    """`DELETE /billing-keys/{billingKey}`: 409 PAYMENT_SCHEDULE_ALREADY_EXISTS while a
    schedule on it has not run; `BillingKey.Deleted` to the console URL unless
    `skipWebhook=true` (query); `reason`, `requester` accepted. The key's payments stay."""
    refusal = store_refusal(ctx, req.query.get("storeId"))
    if refusal is not None:
        return refusal
    now = ctx.state.now()
    answer, info = ctx.state.update_key(
        req.params["billingKey"], lambda live: _delete(ctx, live, now)
    )
    if answer is not None:
        return answer
    assert info is not None  # a deleted key
    if req.query.get("skipWebhook", "").lower() != "true":
        _notify(ctx, "BillingKey.Deleted", info)
    return json_reply(200, {"deletedAt": info["deletedAt"]})
