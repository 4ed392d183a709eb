"""The faked I'mport V1 endpoints: getToken, billing-key issue / lookup / delete."""

from __future__ import annotations

import uuid
from typing import Any

from ..faults import slowed
from ..wire import Reply, Request
from . import cards, payments
from .wire import MAX_CUSTOMER_UID_LENGTH, MSG_SERVER_ERROR, Context, envelope

MSG_TOKEN_PARAMS_MISSING = "imp_key, imp_secret 파라메터가 누락되었습니다."
MSG_TOKEN_AUTH_FAILED = "imp_key, imp_secret 인증에 실패하였습니다."
# Sandbox wording (the real text is unknown), the same as `again`'s.
MSG_CUSTOMER_UID_TOO_LONG = payments.MSG_TOO_LONG.format("customer_uid", MAX_CUSTOMER_UID_LENGTH)
MSG_ISSUE_FAILED = "카드정보 인증 및 빌키 발급에 실패하였습니다. "
MSG_BAD_CARD_NUMBER = "[F112]유효하지않은 카드번호를 입력하셨습니다. (card_bin 없음)"
MSG_BAD_EXPIRY = "[F113]유효기간이 올바르지 않습니다."
MSG_BAD_BIRTH_OR_PWD = "[F114]생년월일 또는 비밀번호가 일치하지 않습니다."
MSG_CARD_REFUSED = "[8102]거래정지된 카드입니다."
MSG_PG_UNCONFIGURED = "비인증결제모듈 사용정보를 찾을 수 없습니다."

MAINTENANCE_PAGE = (
    '<!DOCTYPE html>\n<html lang="ko"><head><meta charset="utf-8">'
    "<title>서비스 점검 안내</title></head>\n<body><h1>서비스 점검 중입니다</h1>"
    "<p>보다 나은 서비스를 위해 시스템 점검을 진행하고 있습니다. 잠시 후 다시 시도해 주세요.</p>"
    "</body></html>\n"
).encode()

# Holder fields echoed back in the CustomerAnnotation (null when not sent).
_HOLDER_FIELDS = (
    "customer_name",
    "customer_tel",
    "customer_email",
    "customer_addr",
    "customer_postcode",
)


def get_token(ctx: Context, req: Request) -> Reply:
    """`POST /users/getToken`: the shared-token semantics live in Tokens.get_token."""
    key, secret = req.field("imp_key"), req.field("imp_secret")
    if not key or not secret:
        return envelope(400, -1, MSG_TOKEN_PARAMS_MISSING)
    if not ctx.state.tokens.credentials_ok(key, secret):
        return envelope(401, -1, MSG_TOKEN_AUTH_FAILED)
    token, now, expired_at = ctx.state.tokens.get_token()
    return envelope(200, 0, None, {"access_token": token, "now": now, "expired_at": expired_at})


def _issue_failed(reason: str) -> Reply:
    # Card/PG rejections are HTTP 200 with code -1: I'mport reports them in-band.
    return envelope(200, -1, MSG_ISSUE_FAILED + reason)


def issue_billing_key(ctx: Context, req: Request) -> Reply | None:
    """`POST /subscribe/customers/{customer_uid}`: validate the card, then store the key.

    The raw card fields are read here and dropped; only the masked number and brand
    information ever reach the state.
    """
    customer_uid = req.params["customer_uid"]  # a `customer_uid` in the body is ignored
    if len(customer_uid) > MAX_CUSTOMER_UID_LENGTH:
        return envelope(400, -1, MSG_CUSTOMER_UID_TOO_LONG)
    pg = req.field("pg")
    # Choosing the PG configuration comes before anything is sent to a card company.
    if cards.is_unconfigured_pg(pg):
        return envelope(200, 1, MSG_PG_UNCONFIGURED)
    digits = cards.parse_card_number(req.field("card_number"))
    if digits is None:
        return _issue_failed(MSG_BAD_CARD_NUMBER)

    fault = cards.FAULTS.get(digits)
    if fault == cards.FAULT_HTTP_500:
        return envelope(500, -1, MSG_SERVER_ERROR)
    if fault == cards.FAULT_HTML:
        # A load balancer / maintenance page in front of the API: 200 but not JSON.
        return Reply(200, MAINTENANCE_PAGE, "text/html; charset=UTF-8")
    if fault == cards.FAULT_RESET:
        return None
    now = ctx.state.now()
    if not cards.expiry_valid(req.field("expiry"), now):
        return _issue_failed(MSG_BAD_EXPIRY)
    if not cards.birth_valid(req.field("birth"), req.field("pwd_2digit")):
        return _issue_failed(MSG_BAD_BIRTH_OR_PWD)
    if digits == cards.REFUSED_CARD:
        return _issue_failed(MSG_CARD_REFUSED)

    provider, mid = cards.resolve_pg(pg)
    brand = cards.card_brand(digits, provider)
    customer_id = req.field("customer_id")
    if customer_id is None and provider == "tosspayments":
        customer_id = str(uuid.uuid4())  # Toss needs one; PortOne generates a UUID if absent
    fields: dict[str, Any] = {
        "pg_provider": provider,
        "pg_id": mid,
        "sandbox": True,
        "customer_id": customer_id,
        "card_name": brand.name,
        "card_code": brand.code,
        "card_number": cards.mask_card_number(digits),
        "card_type": brand.card_type,
    }
    fields.update({name: req.field(name) for name in _HOLDER_FIELDS})
    # Only the flag derived from a magic card is kept, so later charges can be declined.
    charge = cards.charge_behaviour(digits)
    reply = envelope(200, 0, None, ctx.state.put_customer(customer_uid, fields, charge))
    return slowed(reply, fault, ctx.hang_seconds)


def _customer_not_found(ctx: Context, customer_uid: str) -> Reply:
    # Observed 2017-2023: HTTP 200 + code 1; the spec documents 404, hence the switch.
    status = 404 if ctx.state.config.not_found_as_404 else 200
    message = f"요청하신 customer_uid({customer_uid})로 등록된 정보를 찾을 수 없습니다."
    return envelope(status, 1, message)


def get_billing_key(ctx: Context, req: Request) -> Reply:
    """`GET /subscribe/customers/{customer_uid}`."""
    customer_uid = req.params["customer_uid"]
    annotation = ctx.state.get_customer(customer_uid)
    if annotation is None:
        return _customer_not_found(ctx, customer_uid)
    return envelope(200, 0, None, annotation)


def delete_billing_key(ctx: Context, req: Request) -> Reply:
    """`DELETE /subscribe/customers/{customer_uid}`; `reason` (query) is accepted and ignored.

    The key's schedules stay (UNCONFIRMED for V1); executed without a key, they fail.
    """
    customer_uid = req.params["customer_uid"]
    annotation = ctx.state.delete_customer(customer_uid)
    if annotation is None:
        return _customer_not_found(ctx, customer_uid)
    return envelope(200, 0, None, annotation)
