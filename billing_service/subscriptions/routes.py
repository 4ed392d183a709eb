"""Billing-key endpoints."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ..auth import require_caller
from ..extensions import Blueprint, iamport
from .schemas import IssueBillingKeyResponseSchema, IssueBillingKeySchema

blp = Blueprint(
    "subscriptions",
    __name__,
    url_prefix="/subscriptions",
    description="Issue billing keys from card details. Card data is never stored or logged.",
)
blp.before_request(require_caller)

ISSUE_EXAMPLE = {
    "card_number": "4242-4242-4242-4242",
    "expiry": "2035-12",
    "birth": "880101",
    "pwd_2digit": "12",
    "customer_uid": "gildong_0001_1234",
    "customer_name": "홍길동",
    "customer_email": "gildong@example.com",
}


@blp.route("/issue-billing")
class IssueBilling(MethodView):
    @blp.body(IssueBillingKeySchema, example=ISSUE_EXAMPLE)
    @blp.response(
        200,
        IssueBillingKeyResponseSchema,
        example={
            "status": "success",
            "message": "Billing has successfully issued",
            "billing_key": {
                "customer_uid": "gildong_0001_1234",
                "pg_provider": "nice",
                "pg_id": "nictest04m",
                "card_name": "현대카드",
                "card_code": "367",
                "card_number": "424242******4242",
                "card_type": "credit",
                "customer_name": "홍길동",
                "customer_email": "gildong@example.com",
                "customer_tel": None,
                "issued_at": "2026-11-27T09:00:00+00:00",
                "updated_at": "2026-11-27T09:00:00+00:00",
                "replaced": False,
            },
        },
    )
    @blp.errors(
        "invalid_json",
        "unauthorized",
        "card_rejected",
        "payload_too_large",
        "unsupported_media_type",
        "invalid_request",
        "internal_error",
        "gateway_error",
        "gateway_auth_failed",
        "gateway_unavailable",
        "gateway_timeout",
    )
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Issue a billing key from card details

        Obtains an I'mport access token and asks I'mport to issue a billing key under
        `customer_uid` (`POST /subscribe/customers/{customer_uid}`). Issuing again under the same
        `customer_uid` replaces the key (`replaced: true`). Accepts JSON or an HTML form body.
        """
        billing_key = iamport().issue_billing_key(
            args["customer_uid"], args["card"], args["customer"]
        )
        return {"billing_key": billing_key}
