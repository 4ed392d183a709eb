"""PortOne V2's payments: charge a billing key, find and look up payments.

A ``paymentId`` is the caller's ``merchant_uid``; each attempt under it has its own
``transactionId`` (the caller's ``imp_uid``) and PortOne shows only the latest one, so the
service acts on a payment only when its ``transactionId`` is the ``imp_uid`` asked for. A
charge's decline is a typed 502 (``PG_PROVIDER``) confirmed by the payment reading FAILED; an
untyped 5xx, a page that is not JSON or a lost answer is settled from the payment
(``outcomes``), never by sending again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ..exceptions import (
    CardDeclined,
    ChargeOutcomeUnknown,
    ChargePending,
    DuplicateMerchantUid,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentNotFound,
    ProviderError,
    RequestNotSupported,
    RequestOutstanding,
    UnexpectedResponse,
    UnknownBillingKeyRefusal,
)
from ..models import Charge, ChargeResult, Order, Payment
from ..outcomes import (
    DUPLICATE_MESSAGE,
    HOLDS_MERCHANT_UID,
    NOT_LOOKED_UP,
    charge_result,
    charged_to,
    declined_before,
    settle_used_merchant_uid,
)
from .answer import Refusal
from .billing_keys import BillingKeyCalls, v2_customer
from .parsing import key_channel, key_id, parse_payment
from .session import segment

UNKNOWN_CHARGE = "The charge was sent but its outcome is unknown; retry with the same merchant_uid."
# PortOne V2 does not charge a paymentId again once an attempt under it failed (the sandbox's
# switch decides); V1 did.
FAILED_ORDER_MESSAGE = (
    "This merchant_uid belongs to a failed payment, which PortOne V2 does not charge again: "
    "send the charge under a new merchant_uid."
)
OUTSTANDING_MESSAGE = "PortOne is still running an earlier attempt of this request."
_UNKNOWN_KEY = ("BILLING_KEY_NOT_FOUND", "BILLING_KEY_ALREADY_DELETED")


class PaymentCalls(BillingKeyCalls):
    """Charge, find and look up payments."""

    def charge_billing_key(self, charge: Charge, *, pending: bool = False) -> ChargeResult:
        """Charge the key of ``charge.customer_uid`` (``POST /payments/{paymentId}/billing-key``)
        under ``paymentId = merchant_uid``, never twice.

        ``pending``: an earlier attempt of this order is remembered (its request is resumed):
        it is looked up first, as for V1, and the charge is sent again with the same body and
        Idempotency-Key, so PortOne replays its answer; a 400 to it is an unknown outcome.

        Raises RequestNotSupported (a currency other than KRW, a notice_url), BillingKeyNotFound,
        ChargePending, CardDeclined, DuplicateMerchantUid, ChargeOutcomeUnknown,
        RequestOutstanding, or another GatewayError.
        """
        refuse_unsupported(charge)
        key = self._key_of(charge.customer_uid)
        seen: str | None = NOT_LOOKED_UP
        if pending:
            earlier = self._find_charge(charge)
            seen = earlier.imp_uid if earlier is not None else None
            if earlier is not None and earlier.status == "ready":
                raise ChargePending(earlier)
            if earlier is not None and earlier.status in HOLDS_MERCHANT_UID:
                return settle_used_merchant_uid(
                    earlier, charge, DuplicateMerchantUid(DUPLICATE_MESSAGE), replayed=True
                )
        channel = charge.channel_key or key_channel(key).get("key") or self._channel_key
        body = charge_body(charge, key_id(key), channel, self._notice_url)
        sent_at = time.time()
        try:
            self._move("charge", f"/payments/{segment(charge.merchant_uid)}/billing-key", body)
        except Refusal as exc:
            return self._explain_refused_charge(charge, exc, seen, sent_at, resumed=pending)
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            return self._reconcile_charge(charge, sent_at, seen, exc)
        # PortOne answers a charge with its pgTxId only: the payment is read back.
        return self._reconcile_charge(charge, sent_at, seen, None, reconciled=False)

    def find_payment(self, merchant_uid: str) -> Payment | None:
        """The latest attempt of ``paymentId = merchant_uid`` (``GET /payments/{paymentId}``)."""
        try:
            data = self._look_up("find_payment", f"/payments/{segment(merchant_uid)}")
        except ProviderError as exc:
            if exc.http_status == 404:
                return None
            raise
        payment = parse_payment(data)
        self._directory.keep_payment_id(payment.imp_uid, payment.merchant_uid)
        return payment

    def get_payment(self, imp_uid: str) -> Payment:
        """The attempt ``transactionId = imp_uid``, while it is its payment's latest; raise
        PaymentNotFound (also for an attempt a later one under its paymentId replaced)."""
        payment = self._latest_attempt(imp_uid)
        if payment is None or payment.imp_uid != imp_uid:
            raise PaymentNotFound("There is no payment with this imp_uid.")
        return payment

    def _latest_attempt(self, imp_uid: str) -> Payment | None:
        """The latest attempt of the paymentId the attempt ``imp_uid`` belongs to."""
        payment_id = self._payment_id(imp_uid)
        return self.find_payment(payment_id) if payment_id is not None else None

    def _payment_id(self, imp_uid: str) -> str | None:
        """The paymentId of the attempt ``imp_uid``: remembered at charge time, else searched
        for (``GET /payments``, a text search on the transaction id, exact matches only)."""
        remembered = self._directory.payment_id(imp_uid)
        if remembered is not None:
            return remembered
        items = self._search(
            "search_payments",
            "/payments",
            {
                "page": {"number": 0, "size": 10},
                "filter": {"textSearch": [{"field": "TX_ID", "value": imp_uid}]},
            },
        )
        for item in items:
            if isinstance(item, Mapping) and item.get("transactionId") == imp_uid:
                payment_id = item.get("id")
                if isinstance(payment_id, str) and payment_id:
                    self._directory.keep_payment_id(imp_uid, payment_id)
                    return payment_id
        return None

    def _find_charge(self, charge: Charge) -> Payment | None:
        """The latest attempt of the charge's order if it is the charge's customer's: another
        customer's payment is never this charge's outcome, and is not shown."""
        payment = self.find_payment(charge.merchant_uid)
        return payment if payment is not None and charged_to(payment, charge.customer_uid) else None

    def _explain_refused_charge(
        self, charge: Charge, refusal: Refusal, seen: str | None, sent_at: float, *, resumed: bool
    ) -> ChargeResult:
        """What PortOne's typed refusal of a charge means for it."""
        if refusal.error_type == "PG_PROVIDER":
            # A decline only if the payment reads FAILED now: otherwise an unknown outcome.
            return self._reconcile_charge(charge, sent_at, seen, refusal, decline=refusal)
        if refusal.error_type == "IDEMPOTENCY_OUTSTANDING_REQUEST":
            earlier = self._find_charge(charge)
            if earlier is not None and earlier.status == "ready":
                raise ChargePending(earlier) from refusal
            raise RequestOutstanding(OUTSTANDING_MESSAGE, http_status=409) from refusal
        if refusal.error_type in _UNKNOWN_KEY:
            raise UnknownBillingKeyRefusal(
                refusal.message, http_status=refusal.http_status
            ) from refusal
        if resumed and refusal.http_status == 400:
            # A resumed attempt PortOne will not replay (its first may have run): look it up.
            return self._reconcile_charge(charge, sent_at, seen, refusal)
        if refusal.http_status == 409:
            return self._settle_taken_order(charge, refusal)
        raise refusal

    def _settle_taken_order(self, charge: Charge, refusal: Refusal) -> ChargeResult:
        """The paymentId is taken (``ALREADY_PAID``, or a failed one PortOne will not charge
        again): by this same charge, by one still running, or a conflict."""
        earlier = self.find_payment(charge.merchant_uid)
        ours = earlier is not None and charged_to(earlier, charge.customer_uid)
        if earlier is not None and ours and earlier.status in HOLDS_MERCHANT_UID:
            return settle_used_merchant_uid(earlier, charge, refusal, replayed=True)
        if earlier is not None and ours and earlier.status == "ready":
            raise ChargePending(earlier) from refusal
        if earlier is not None and ours and earlier.status == "failed":
            raise DuplicateMerchantUid(FAILED_ORDER_MESSAGE, http_status=409) from refusal
        if earlier is None and refusal.error_type != "ALREADY_PAID":
            raise refusal
        raise DuplicateMerchantUid(DUPLICATE_MESSAGE, http_status=409) from refusal

    def _reconcile_charge(
        self,
        charge: Charge,
        sent_at: float,
        seen: str | None,
        cause: GatewayError | None,
        *,
        decline: Refusal | None = None,
        reconciled: bool = True,
    ) -> ChargeResult:
        """Settle a charge from its own attempt, if PortOne shows one (an earlier attempt's
        decline is not this charge's outcome): after a lost answer (``cause``), a typed decline
        (``decline``: a decline once the payment reads failed, with its words when the payment
        has none) or a success (its payment)."""
        try:
            payment = self._find_charge(charge)
        except GatewayError as exc:
            raise ChargeOutcomeUnknown(UNKNOWN_CHARGE) from exc
        if payment is not None and payment.status == "failed" and decline is not None:
            # PortOne said "declined" (its answer, or the replay of it to a resumed attempt):
            # the payment is read for its details, whichever attempt of the order it shows.
            raise CardDeclined(
                payment.fail_reason or decline.words,
                payment=payment,
                http_status=decline.http_status,
                pg_code=payment.pg_code or decline.pg_code,
            ) from decline
        if payment is None or declined_before(payment, seen, sent_at):
            raise ChargeOutcomeUnknown(UNKNOWN_CHARGE) from cause
        if payment.status in HOLDS_MERCHANT_UID and cause is not None:
            return settle_used_merchant_uid(payment, charge, cause, reconciled=True)
        return charge_result(payment, reconciled=reconciled)


def refuse_unsupported(charge: Charge) -> None:
    """What V2 cannot take as V1 did: another currency (KRW only for now), a notice_url (V2
    sends its own webhooks; callers get the service's events)."""
    refuse_currency(charge)
    if charge.notice_url is not None:
        raise RequestNotSupported(
            "notice_url is not supported under PortOne V2: subscribe to the service's events.",
            field="notice_url",
        )


def refuse_currency(order: Order) -> None:
    """Only KRW through V2 for now (its amounts are in the currency's minor unit)."""
    if order.currency != "KRW":
        raise RequestNotSupported(
            "Only KRW can be charged through PortOne V2 for now.", field="currency"
        )


def charge_body(
    charge: Charge, billing_key: str, channel_key: str | None, notice_url: str | None = None
) -> dict[str, Any]:
    """``BillingKeyPaymentInput`` of a charge (see ``order_body``)."""
    return order_body(charge, charge.customer_uid, billing_key, channel_key, notice_url)


def order_body(
    order: Order,
    customer_uid: str,
    billing_key: str,
    channel_key: str | None,
    notice_url: str | None = None,
) -> dict[str, Any]:
    """``BillingKeyPaymentInput`` (a charge's body, a schedule's ``payment``): the same order
    gives the same body, byte for byte, so a resumed attempt is replayed by PortOne under its
    Idempotency-Key. ``notice_url`` (PORTONE_NOTICE_URL) is where PortOne sends its webhooks
    instead of the console's URL."""
    amount: dict[str, int] = {"total": order.amount}
    if order.tax_free is not None:
        amount["taxFree"] = order.tax_free
    body: dict[str, Any] = {
        "billingKey": billing_key,
        "orderName": order.name,
        "amount": amount,
        "currency": order.currency,
        "customer": v2_customer(customer_uid, order.buyer, prefix="buyer_"),
    }
    if channel_key:
        body["channelKey"] = channel_key
    if notice_url:
        body["noticeUrls"] = [notice_url]
    if order.card_quota is not None:
        body["installmentMonth"] = order.card_quota
    if order.custom_data is not None:
        # A string in V2 as in V1: JSON keeps it readable on the way back.
        # Sorted: a resumed attempt must send PortOne the same body byte for byte.
        body["customData"] = json.dumps(order.custom_data, ensure_ascii=False, sort_keys=True)
    return body
