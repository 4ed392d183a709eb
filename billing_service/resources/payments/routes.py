"""Payment endpoints: charge a billing key, look up a payment, cancel it."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ...api.blueprint import BODY_ERRORS, CALLER_ERRORS, GATEWAY_ERRORS, Blueprint
from ...api.services import iamport
from ...gateway import Charge
from ...security.callers import require_caller, requires
from .schemas import CancelSchema, ChargeResponseSchema, ChargeSchema, PaymentResponseSchema

blp = Blueprint(
    "payments",
    __name__,
    url_prefix="/subscriptions",
    description="Charge billing keys, look payments up and cancel them.",
)
blp.before_request(require_caller)

PAYMENT_EXAMPLE = {
    "imp_uid": "imps_410026135413",
    "merchant_uid": "order_20261127_0001",
    "customer_uid": "gildong_0001_1234",
    "status": "paid",
    "amount": 9900,
    "cancel_amount": 0,
    "currency": "KRW",
    "name": "월간 구독",
    "paid_at": "2026-11-27T09:00:00+00:00",
    "failed_at": None,
    "cancelled_at": None,
    "fail_reason": None,
    "card_name": "현대카드",
    "card_number": "424242******4242",
    "apply_num": "30016714",
    "receipt_url": "https://npg.nicepay.co.kr/issue/IssueLoader.do?TID=nictest04m",
    "pg_provider": "nice",
    "cancel_history": [],
}


def _charged(*, replayed: bool = False, reconciled: bool = False) -> dict[str, Any]:
    return {
        "status": "success",
        "payment": PAYMENT_EXAMPLE,
        "replayed": replayed,
        "reconciled": reconciled,
    }


# The payment an answer carries, for the links between operations.
ANSWERED_PAYMENT = "$response.body#/payment/imp_uid"
PAYMENT_LINKS = {
    "getPayment": {"parameters": {"imp_uid": ANSWERED_PAYMENT}},
    "cancelPayment": {"parameters": {"imp_uid": ANSWERED_PAYMENT}},
}


@blp.route("/payments")
class Payments(MethodView):
    @blp.operation("chargeBillingKey", **PAYMENT_LINKS)
    @blp.body(
        ChargeSchema,
        example={
            "customer_uid": "gildong_0001_1234",
            "merchant_uid": "order_20261127_0001",
            "amount": 9900,
            "name": "월간 구독",
        },
    )
    @blp.response(
        200,
        ChargeResponseSchema,
        examples={
            "paid": {"value": _charged()},
            "replayed": {
                "summary": "The same charge sent again: answered, not charged twice",
                "value": _charged(replayed=True),
            },
            "reconciled": {
                "summary": "I'mport's answer was lost; the payment was found paid",
                "value": _charged(reconciled=True),
            },
        },
    )
    @blp.errors(
        *CALLER_ERRORS,
        "rate_limited",
        "card_declined",
        "billing_key_not_found",
        "duplicate_merchant_uid",
        *BODY_ERRORS,
        *GATEWAY_ERRORS,
        examples={
            "card_declined": {
                "message": "[8326]카드 한도초과",
                "payment": {
                    **PAYMENT_EXAMPLE,
                    "status": "failed",
                    "paid_at": None,
                    "failed_at": "2026-11-27T09:00:00+00:00",
                    "fail_reason": "[8326]카드 한도초과",
                    "apply_num": None,
                },
            },
            "gateway_timeout": {
                "message": "The charge was sent but its outcome is unknown; "
                "retry with the same merchant_uid.",
                "retryable": True,
            },
        },
    )
    @requires("charge")
    def post(self, charge: Charge) -> dict[str, Any]:
        """Charge a billing key

        Calls `POST /subscribe/payments/again`. Safe to retry with the same `merchant_uid`: a
        charge already paid for it with the same `customer_uid` and `amount` is answered again
        (`replayed: true`) and never charged twice. When I'mport's answer is lost, the charge is
        not resent: the order is looked up (`reconciled: true` if found paid), or the answer is a
        504 `gateway_timeout` with `retryable: true`. The body may also be an HTML form, without
        `custom_data` (a form cannot carry a JSON object). Scope `charge`; declined charges
        count against the caller's refusal limit (429).
        """
        result = iamport().charge_billing_key(charge)
        return {
            "payment": result.payment,
            "replayed": result.replayed,
            "reconciled": result.reconciled,
        }


@blp.route("/payments/<id:imp_uid>")
class PaymentsById(MethodView):
    @blp.operation("getPayment", cancelPayment=PAYMENT_LINKS["cancelPayment"])
    @blp.response(
        200, PaymentResponseSchema, example={"status": "success", "payment": PAYMENT_EXAMPLE}
    )
    @blp.errors(*CALLER_ERRORS, "payment_not_found", *GATEWAY_ERRORS)
    @blp.long_request_line
    @requires("read")
    def get(self, imp_uid: str) -> dict[str, Any]:
        """Look up a payment

        Calls `GET /payments/{imp_uid}`. Scope `read`.
        """
        return {"payment": iamport().get_payment(imp_uid)}


@blp.route("/payments/<id:imp_uid>/cancel")
class PaymentCancellation(MethodView):
    @blp.operation("cancelPayment", **PAYMENT_LINKS)
    @blp.body(CancelSchema, example={"reason": "고객 요청에 의한 환불"})
    @blp.response(
        200,
        PaymentResponseSchema,
        example={
            "status": "success",
            "payment": {
                **PAYMENT_EXAMPLE,
                "status": "cancelled",
                "cancel_amount": 9900,
                "cancelled_at": "2026-11-28T09:00:00+00:00",
                "cancel_history": [
                    {
                        "amount": 9900,
                        "cancelled_at": "2026-11-28T09:00:00+00:00",
                        "reason": "고객 요청에 의한 환불",
                    }
                ],
            },
        },
    )
    @blp.errors(
        *CALLER_ERRORS, "payment_not_found", "nothing_to_cancel", *BODY_ERRORS, *GATEWAY_ERRORS
    )
    @blp.long_request_line
    @requires("cancel")
    def post(self, args: dict[str, Any], imp_uid: str) -> dict[str, Any]:
        """Cancel a payment, fully or partly

        Calls `POST /payments/cancel` with the balance read just before as `checksum`, so a
        concurrent cancel cannot make it cancel more than is left. Without `amount`, cancels all
        that is left; a partly cancelled payment stays `paid` with a higher `cancel_amount`.
        Scope `cancel`.
        """
        payment = iamport().cancel_payment(imp_uid, args["reason"], args.get("amount"))
        return {"payment": payment}
