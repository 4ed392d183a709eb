"""`POST /__sandbox__/payments/checkout`: a payment made in I'mport's payment window.

A buyer paying in the browser (the JavaScript SDK's `IMP.request_pay`) is not a REST call, so
the sandbox offers it as an admin call. Such a payment is not a billing key's charge: `channel`
`pc`, `customer_uid` null, or the `customer_uid` it stored the card under with
`customer_uid_usage` `issue`. Like I'mport, it may take a `merchant_uid` that a failed or `ready`
charge used (only a paid or cancelled one is taken), so a subscription service can be tested
against a checkout landing on one of its orders.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from ..admin import bad_request
from ..wire import Reply, Request, json_reply, valid_url
from . import cards, payments, records
from .wire import MAX_CUSTOMER_UID_LENGTH, Context

# The card the buyer typed into the window: a test number, only ever kept masked.
_WINDOW_CARD = "4111111111111111"
_FIELDS = ("merchant_uid", "amount", "name", "customer_uid", "notice_url")


def _uid(value: object, limit: int) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= limit


def checkout(ctx: Context, req: Request) -> Reply:
    """`{"merchant_uid", "amount", "name"?, "customer_uid"?, "notice_url"?}`: a paid window
    payment, notified like an approval; 409 when the merchant_uid is taken."""
    unknown = sorted(set(req.body) - set(_FIELDS))
    if unknown:
        return bad_request(f"unknown field(s) {unknown}; known: {list(_FIELDS)}")
    merchant_uid = req.body.get("merchant_uid")
    if not _uid(merchant_uid, payments.MAX_MERCHANT_UID_LENGTH):
        return bad_request(f"merchant_uid must be 1-{payments.MAX_MERCHANT_UID_LENGTH} chars")
    amount = req.body.get("amount")
    if type(amount) is not int or amount <= 0:
        return bad_request("amount must be an int > 0")
    name = req.body.get("name", "sandbox checkout")
    customer_uid = req.body.get("customer_uid")
    if customer_uid is not None and not _uid(customer_uid, MAX_CUSTOMER_UID_LENGTH):
        return bad_request(f"customer_uid must be null or 1-{MAX_CUSTOMER_UID_LENGTH} chars")
    notice_url = req.body.get("notice_url")
    if not isinstance(name, str) or (notice_url is not None and not valid_url(notice_url)):
        return bad_request("name must be a string, notice_url an http(s) URL")
    order = records.Order(
        customer_uid=customer_uid or "",  # the payment's own is set below: null without one
        merchant_uid=merchant_uid,
        amount=amount,
        name=name,
        currency="KRW",
        card_quota=0,
        buyer={f"buyer_{part}": None for part in records.BUYER_FIELDS},
        custom_data=None,
        notice_url=notice_url,
    )
    now = ctx.state.now()

    def build(imp_uid: str) -> dict[str, Any]:
        payment = records.new_payment(imp_uid, order, _window_card(), records.PAID, now)
        payment["channel"] = "pc"
        payment["customer_uid"] = customer_uid
        payment["customer_uid_usage"] = "issue" if customer_uid is not None else None
        payment["user_agent"] = "Mozilla/5.0 (sandbox payment window)"
        return payment

    payment = ctx.state.add_payment(order.merchant_uid, build, notice_url=notice_url)
    if payment is None:
        return json_reply(409, {"error": payments.MSG_DUPLICATE})
    ctx.notices.notify(notice_url, records.notice_body(payment))
    return json_reply(200, payment)


def _window_card() -> dict[str, Any]:
    """The card fields of the payment, as a billing key's would give them."""
    pg_provider, pg_id = cards.resolve_pg(None)
    brand = cards.card_brand(_WINDOW_CARD, pg_provider)
    return {
        "card_code": brand.code,
        "card_name": brand.name,
        "card_number": cards.mask_card_number(_WINDOW_CARD),
        "card_type": brand.card_type,
        "pg_id": pg_id,
        "pg_provider": pg_provider,
    }
