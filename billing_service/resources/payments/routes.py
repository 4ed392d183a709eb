"""Payment endpoints: charge a billing key, look up a payment, cancel it."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify
from flask.views import MethodView

from ...api import locks
from ...api.blueprint import (
    BODY_ERRORS,
    CALLER_ERRORS,
    GATEWAY_ERRORS,
    IDEMPOTENCY_ERRORS,
    REPLAYED,
    Blueprint,
)
from ...api.http_errors import RequestInProgress
from ...api.idempotency import current_attempt
from ...api.publisher import event_publisher, publish_payment
from ...extensions import gateway, state
from ...gateway import (
    BillingKeyNotFound,
    CancelPending,
    CancelResult,
    CardDeclined,
    Charge,
    ChargePending,
    ChargeResult,
    Payment,
    PaymentNotFound,
)
from ...security.callers import owns, requires
from ...security.card_testing import limited
from ...state import StateUnavailable
from .examples import (
    CANCEL_ERROR_EXAMPLES,
    CANCEL_EXAMPLE,
    CANCEL_PENDING_EXAMPLE,
    CANCELLED_EXAMPLE,
    CHARGE_ERROR_EXAMPLES,
    CHARGE_EXAMPLE,
    CHARGED_EXAMPLES,
    PAYMENT_ANSWER_EXAMPLE,
    PENDING_EXAMPLE,
)
from .schemas import (
    CancelResponseSchema,
    CancelSchema,
    ChargeResponseSchema,
    ChargeSchema,
    PaymentResponseSchema,
    PendingCancelResponseSchema,
    PendingChargeResponseSchema,
)

logger = logging.getLogger(__name__)
# How long an attempted order is remembered (looked up before it is sent again): longer than any
# PG takes to settle one.
PENDING_TTL = 7 * 24 * 3600.0

blp = Blueprint(
    "payments",
    __name__,
    url_prefix="/subscriptions",
    description="Charge billing keys, look payments up and cancel them.",
)

# The payment an answer carries, for the links between operations.
ANSWERED_PAYMENT = "$response.body#/payment/imp_uid"
PAYMENT_LINKS = {
    "getPayment": {"parameters": {"imp_uid": ANSWERED_PAYMENT}},
    "cancelPayment": {"parameters": {"imp_uid": ANSWERED_PAYMENT}},
}


@blp.route("/payments")
class Payments(MethodView):
    @requires("charge")
    @blp.operation("chargeBillingKey", **PAYMENT_LINKS)
    @blp.idempotent()
    @blp.body(
        ChargeSchema,
        example=CHARGE_EXAMPLE,
    )
    @blp.response(
        200,
        ChargeResponseSchema,
        headers=REPLAYED,
        examples=CHARGED_EXAMPLES,
    )
    @blp.alt_response(
        202,
        schema=PendingChargeResponseSchema,
        headers=REPLAYED,
        description="PortOne left the charge `ready`: its outcome is not known yet. Do not "
        "charge again under a new merchant_uid: follow it up with "
        "`GET /subscriptions/payments/by-merchant-uid/{merchant_uid}`, or retry with the same "
        "merchant_uid (looked up, not sent, while it is still ready). The service follows it "
        "up too: its event (`payment.paid` or `payment.failed`) goes out once it settles.",
        example=PENDING_EXAMPLE,
    )
    @blp.errors(
        *CALLER_ERRORS,
        "rate_limited",
        "card_declined",
        "billing_key_not_found",
        "duplicate_merchant_uid",
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
        *GATEWAY_ERRORS,
        examples=CHARGE_ERROR_EXAMPLES,
    )
    @limited()  # the refusal budget: a declined charge spends it
    def post(self, charge: Charge) -> dict[str, Any] | Response:
        """Charge a billing key

        Calls `POST /subscribe/payments/again`. Safe to retry with the same `merchant_uid`: a
        charge already paid for it with the same `customer_uid` and `amount` is answered again
        (`replayed: true`) and never charged twice. When PortOne's answer is lost, the charge is
        not resent: the order is looked up (`reconciled: true` if found paid), or the answer is a
        504 `gateway_timeout` with `retryable: true` (never with an earlier attempt's decline).
        While another charge of this `merchant_uid` runs (any caller), 409
        `request_in_progress`, nothing sent. A payment of another `customer_uid` under this
        `merchant_uid` is never shown. Before the charge is sent, a follow-up is kept in the
        state store (503 `state_unavailable`, nothing sent, if it cannot be): the service looks
        the order up itself `BILLING_PENDING_RECHECK_SECONDS` later, and again while it is
        pending, so its event goes out even if nobody retries. The body may also be an HTML
        form, without `custom_data` (a form cannot carry a JSON object). Scope `charge`;
        declined charges count against the caller's refusal limit (429).
        """
        if not owns(charge.customer_uid):
            raise BillingKeyNotFound("There is no billing key under this customer_uid.")
        # One mark per order, whoever sends it: another caller's attempt counts as much.
        store, pending_key = state(), f"order:{charge.merchant_uid}"
        attempt = current_attempt()
        with locks.held(locks.order(charge.merchant_uid)):
            # An earlier attempt of the order (remembered, or this resumed one) may have been
            # sent: the order is looked up first.
            pending = (attempt is not None and attempt.resumed) or store.is_pending(pending_key)
            # Kept before anything is sent (StateUnavailable: 503, nothing sent): whatever
            # becomes of this request, the service looks the charge up later and tells its event.
            event_publisher().follow_up(
                merchant_uid=charge.merchant_uid, customer_uid=charge.customer_uid, again=pending
            )
            # Marked before sending too (StateUnavailable: 503, nothing sent), and kept unless
            # paid: an attempt that died once sent, was left pending, lost its answer or was
            # declined has the next one look the order up before sending (a decline and a
            # charge sent again in its second are told apart by imp_uid, not by time).
            store.mark_pending(pending_key, PENDING_TTL)
            try:
                result = gateway().charge_billing_key(charge, pending=pending)
            except ChargePending as exc:
                return _pending(exc.payment, reconciled=exc.reconciled)
            except CardDeclined as exc:
                # I'mport sends no notice for a declined plain charge: this answer is the news.
                if exc.payment is not None:
                    publish_payment(exc.payment, source="charge")
                raise
            # Paid: I'mport refuses the merchant_uid from now on, so there is nothing to look up.
            try:
                store.clear_pending(pending_key)
            except StateUnavailable:  # the answer stands: a retry merely looks the order up
                logger.warning("A paid order's pending mark could not be cleared", exc_info=True)
        return _answered(result, "charge")


@blp.route("/payments/<id:imp_uid>")
class PaymentsById(MethodView):
    @requires("read")
    @blp.operation("getPayment", cancelPayment=PAYMENT_LINKS["cancelPayment"])
    @blp.response(200, PaymentResponseSchema, example=PAYMENT_ANSWER_EXAMPLE)
    @blp.errors(*CALLER_ERRORS, "payment_not_found", *GATEWAY_ERRORS)
    @blp.long_request_line
    def get(self, imp_uid: str) -> dict[str, Any]:
        """Look up a payment

        Calls `GET /payments/{imp_uid}`. Scope `read`.
        """
        return {"payment": _owned(gateway().get_payment(imp_uid))}


@blp.route("/payments/<id:imp_uid>/cancel")
class PaymentCancellation(MethodView):
    @requires("cancel")
    @blp.operation("cancelPayment", **PAYMENT_LINKS)
    @blp.idempotent(example="refund-20261128-0001")
    @blp.body(CancelSchema, example=CANCEL_EXAMPLE)
    @blp.response(
        200,
        CancelResponseSchema,
        headers=REPLAYED,
        example=CANCELLED_EXAMPLE,
    )
    @blp.alt_response(
        202,
        schema=PendingCancelResponseSchema,
        headers=REPLAYED,
        description="PortOne V2 only: PortOne accepted the cancel and settles it later (a "
        "`REQUESTED` cancellation). Do not cancel again: look the payment up, or retry with the "
        "same Idempotency-Key (the same balance is sent, so nothing is refunded twice). The "
        "service follows it up: its event goes out once it settles.",
        example=CANCEL_PENDING_EXAMPLE,
    )
    @blp.errors(
        *CALLER_ERRORS,
        "payment_not_found",
        "nothing_to_cancel",
        "cancel_refused",
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
        *GATEWAY_ERRORS,
        examples=CANCEL_ERROR_EXAMPLES,
    )
    @blp.long_request_line
    def post(self, args: dict[str, Any], imp_uid: str) -> dict[str, Any] | Response:
        """Cancel a payment, fully or partly

        Calls `POST /payments/cancel` with the balance read just before as `checksum`, so a
        concurrent cancel cannot make it cancel more than is left. Without `amount`, cancels all
        that is left; a partly cancelled payment stays `paid` with a higher `cancel_amount`. A
        cancel whose answer was lost is looked up in the payment's `cancel_history`, never sent
        again (`reconciled: true`, or 504). A refusal is explained by looking the payment up: a
        retry whose first attempt went through meanwhile is `replayed: true`; nothing left (or a
        balance moved since this cancel's first attempt) is 409 `nothing_to_cancel`; a balance still
        there that PortOne or the card company would not cancel (partial cancels not allowed, the
        window passed) is 422 `cancel_refused`, with PortOne's message and `gateway_code` (V1) or
        `pg_code` (V2), a final answer. Like a charge, a cancel is followed up by the service itself
        (its event goes out even if its answer is lost and nobody retries). **Send an
        `Idempotency-Key` with every cancel** (your refund's own id): its retries send the first
        attempt's checksum, so PortOne cannot refund twice, and a cancel that had gone through
        answers `replayed: true`; every 5xx is then `retryable`. Without a key a cancel is not
        retry-safe: a 5xx after the cancel may have reached PortOne is not `retryable` (a retry
        would read the reduced balance and refund again). While another cancel of this payment runs,
        409 `request_in_progress`, nothing sent (404 `payment_not_found` instead to a caller that
        does not own the payment's customer). Scope `cancel`.
        """
        attempt = current_attempt()
        retry = attempt is not None and attempt.record.checksum is not None
        try:
            with locks.held(locks.payment(imp_uid)):
                result = gateway().cancel_payment(
                    imp_uid,
                    args["reason"],
                    args.get("amount"),
                    checksum=attempt.record.checksum if attempt is not None else None,
                    since=attempt.record.started_at if attempt is not None and retry else None,
                    keep_checksum=attempt.keep_checksum if attempt is not None else None,
                    # Kept before the cancel is sent (StateUnavailable: 503, no cancel sent), as
                    # for charges: the service looks the payment up later and tells its event.
                    sending=lambda checksum: event_publisher().follow_up(
                        imp_uid=imp_uid, balance=checksum
                    ),
                    owned=lambda payment: owns(payment.customer_uid),
                )
        except CancelPending as exc:
            return _pending(exc.payment, reconciled=False, schema=PendingCancelResponseSchema)
        except RequestInProgress:
            # Told only to a caller that owns the payment: another learns nothing of it, not
            # even that a cancel of it is running.
            _owned(gateway().get_payment(imp_uid))
            raise
        return _answered(result, "cancel")


@blp.route("/payments/by-merchant-uid/<id:merchant_uid>")
class PaymentsByMerchantUid(MethodView):
    @requires("read")
    @blp.operation("getPaymentByMerchantUid", cancelPayment=PAYMENT_LINKS["cancelPayment"])
    @blp.response(200, PaymentResponseSchema, example=PAYMENT_ANSWER_EXAMPLE)
    @blp.errors(*CALLER_ERRORS, "payment_not_found", *GATEWAY_ERRORS)
    @blp.long_request_line
    def get(self, merchant_uid: str) -> dict[str, Any]:
        """Look up a payment by your order id

        Calls `GET /payments/find/{merchant_uid}`: the latest payment made with the
        `merchant_uid`. Follows up a charge answered `202 pending`. Scope `read`.
        """
        payment = gateway().find_payment(merchant_uid)
        if payment is None:
            raise PaymentNotFound("There is no payment with this merchant_uid.")
        return {"payment": _owned(payment)}


def _answered(result: ChargeResult | CancelResult, source: str) -> dict[str, Any]:
    """The answer to a charge or a cancel, whose payment is also the news for the events
    (I'mport notifies neither a declined plain charge nor an API cancel)."""
    publish_payment(result.payment, source="reconciliation" if result.reconciled else source)
    return {
        "payment": result.payment,
        "replayed": result.replayed,
        "reconciled": result.reconciled,
    }


def _owned(payment: Payment) -> Payment:
    """The payment, if the caller owns its customer; else as if it did not exist."""
    if not owns(payment.customer_uid):
        raise PaymentNotFound("There is no payment with this imp_uid.")
    return payment


def _pending(
    payment: Payment,
    *,
    reconciled: bool,
    schema: type[PendingChargeResponseSchema] = PendingChargeResponseSchema,
) -> Response:
    body = {"payment": payment, "replayed": False, "reconciled": reconciled}
    response = jsonify(schema().dump(body))
    response.status_code = 202
    return response
