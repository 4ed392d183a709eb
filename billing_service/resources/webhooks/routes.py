"""``POST /webhooks/iamport`` (I'mport V1's notices) and ``POST /webhooks/portone`` (PortOne
V2's signed webhooks): each verified by fetching the payment.

An I'mport notice carries no signature (V1 has none), so it is only a hint: the payment is
fetched from I'mport and only what I'mport says is acted on. Whatever the notice, I'mport gets
200 once it is handled or kept (it sends a notice once, and retries only on network errors and
5xx if the merchant asked): a forged or stale notice is audited and produces nothing.

A PortOne V2 webhook is signed (Standard Webhooks): one whose signature does not verify is 400
and audited; one that does is still acted on only as the payment PortOne shows now
(``portone``). PortOne retries a webhook answered otherwise than 2xx, about five times over some
six hours, so a PortOne that cannot be asked now is a 5xx. Each provider's route answers only
under its ``BILLING_PROVIDER``; the other one's is 404.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import current_app, g, request
from flask.views import MethodView
from werkzeug.exceptions import NotFound

from ...api.blueprint import BODY_ERRORS, GATEWAY_ERRORS, Blueprint
from ...api.guards import client_address, within
from ...api.http_errors import CallerForbidden, InvalidSignature, WebhookNotConfigured
from ...api.publisher import event_publisher
from ...config import Settings
from ...security.signatures import HEADERS, BadSignature, verify_webhook
from . import portone
from .examples import (
    NOTICE_EXAMPLE,
    PORTONE_HEADER_EXAMPLES,
    PORTONE_WEBHOOK_EXAMPLE,
    RECEIVED_EXAMPLE,
)
from .schemas import NoticeAnswerSchema, NoticeSchema

logger = logging.getLogger(__name__)

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/webhooks",
    description="The provider's payment notices. I'mport V1: set the console's notice URL "
    "(결제알림(Webhook) 관리, V1) to `/webhooks/iamport`. PortOne V2: set the console's "
    "webhook URL (V2, version 2024-04-25) to `/webhooks/portone`, and PORTONE_WEBHOOK_SECRET "
    "to its secret. With BILLING_WEBHOOK_TOKEN, either path ends with `/{token}`.",
)

# PortOne V2's webhook body as its docs describe it (for the OpenAPI document only: the body is
# read as the text it was signed as).
_PORTONE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": {
                        "type": "string",
                        "description": "`Transaction.Paid`, `.Failed`, `.Cancelled` and "
                        "`.PartialCancelled` are acted on, `BillingKey.Deleted` too; any other "
                        "type is answered 200 and ignored.",
                    },
                    "timestamp": {"type": "string", "format": "date-time"},
                    "data": {
                        "type": "object",
                        "description": "`paymentId`, `transactionId`, `storeId` and (cancels) "
                        "`cancellationId`; `billingKey` and `storeId` for a billing key's.",
                        "additionalProperties": True,
                    },
                },
            },
            "example": PORTONE_WEBHOOK_EXAMPLE,
        }
    },
}
_PORTONE_HEADERS = [
    {
        "in": "header",
        "name": name,
        "required": True,
        # Printable ASCII, space-separated words (the signature header lists one per secret):
        # an empty or blank value is no signature.
        "schema": {"type": "string", "pattern": "^[!-~]+( [!-~]+)*$"},
        "example": PORTONE_HEADER_EXAMPLES[name],
    }
    for name in HEADERS
]


def _sender_checked(settings: Settings, token: str | None, provider: str) -> None:
    """The path's token, the provider and the sender's address, as configured: 404 for a wrong
    token or another provider's route, 403 for a sender outside BILLING_WEBHOOK_ALLOWED_IPS."""
    expected = settings.webhook_token
    if (expected is None) != (token is None) or (
        expected is not None and not hmac.compare_digest(expected, token or "")
    ):
        raise NotFound()
    if settings.provider != provider:
        logger.warning(
            "A %s webhook came with BILLING_PROVIDER=%s: answered 404 (check the console's "
            "webhook URL)",
            provider,
            settings.provider,
        )
        raise NotFound()
    g.audit_action = "webhook"
    allowed = settings.webhook_allowed_ips
    if allowed is not None and not within(client_address(settings.trusted_proxies), allowed):
        raise CallerForbidden("This address may not post the provider's webhooks.")


@blp.route("/iamport", endpoint="notice")
@blp.route("/iamport/<id:token>", endpoint="notice_with_token")
class IamportNotice(MethodView):
    @blp.doc(security=[])
    @blp.body(NoticeSchema, example=NOTICE_EXAMPLE)
    @blp.response(200, NoticeAnswerSchema, example=RECEIVED_EXAMPLE)
    @blp.errors("forbidden", "not_found", "state_unavailable", *BODY_ERRORS, "internal_error")
    def post(self, notice: dict[str, Any], token: str | None = None) -> dict[str, str]:
        """Receive an I'mport payment notice (no caller key)

        I'mport posts `{imp_uid, merchant_uid, status}` (JSON or form), and `cancellation_id`
        with a cancel's notice. The payment is fetched from I'mport; only if I'mport agrees is
        its change sent to your services as a signed event (one per change, however often the
        notice comes; each cancel its own, named by its `cancellation_id`). A notice for an
        unknown or different payment, for a payment not made with a billing key (a browser
        checkout's), or for a change older than the events' dedup window (30 days, less a day)
        changes nothing and is audited. If I'mport cannot be reached, the notice is kept and
        verified later. Restrict senders with BILLING_WEBHOOK_ALLOWED_IPS and a secret path
        with BILLING_WEBHOOK_TOKEN. Under `BILLING_PROVIDER=portone_v2`: 404.
        """
        _sender_checked(current_app.config["BILLING_SETTINGS"], token, "iamport_v1")
        g.audit_outcome = event_publisher().notice(
            notice["imp_uid"],
            notice.get("merchant_uid"),
            notice.get("status"),
            notice.get("cancellation_id"),
        )
        return {"status": "received"}


@blp.route("/portone", endpoint="portone_webhook")
@blp.route("/portone/<id:token>", endpoint="portone_webhook_with_token")
class PortOneWebhook(MethodView):
    @blp.doc(security=[], requestBody=_PORTONE_BODY, parameters=_PORTONE_HEADERS)
    @blp.response(200, NoticeAnswerSchema, example=RECEIVED_EXAMPLE)
    @blp.errors(
        "invalid_signature",
        "forbidden",
        "not_found",
        "payload_too_large",
        "webhook_not_configured",
        "state_unavailable",
        *GATEWAY_ERRORS,
    )
    def post(self, token: str | None = None) -> dict[str, str]:
        """Receive a PortOne V2 webhook (no caller key)

        PortOne posts `{type, timestamp, data}` (webhook version 2024-04-25), signed with the
        Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`). It is
        verified against PORTONE_WEBHOOK_SECRET (any of its comma-separated secrets, so two
        overlap during a rotation; 5 minutes' tolerance): otherwise 400 `invalid_signature`,
        audited. A signature proves PortOne sent it, not that the payment is as it says: for
        `Transaction.Paid`, `.Failed`, `.Cancelled` and `.PartialCancelled` the payment is
        fetched from PortOne and its current state is sent to your services as a signed event
        (`payment.paid`, `payment.failed`, `payment.cancelled`, `payment.partially_cancelled`;
        `schedule.executed` or `schedule.failed` for a scheduled payment), once per change
        however often the webhook comes, and only for payments on billing keys this service
        issued. `BillingKey.Deleted` stops the service naming that key behind its
        `customer_uid` (if it still does); any other type is answered 200 and ignored. Without
        PORTONE_WEBHOOK_SECRET: 503 `webhook_not_configured` (PortOne retries). If PortOne
        cannot be asked, the webhook is kept and verified later (200); if it cannot be kept,
        503: PortOne sends it again. Under
        `BILLING_PROVIDER=iamport_v1`: 404 (400 when unsigned).
        """
        settings: Settings = current_app.config["BILLING_SETTINGS"]
        if not all(request.headers.get(name) for name in HEADERS):
            # Unsigned: refused before anything else, whatever the path or the provider.
            g.audit_action = "webhook"
            raise InvalidSignature()
        _sender_checked(settings, token, "portone_v2")
        assert settings.portone is not None, "the provider is portone_v2"
        secrets = settings.portone.webhook_secrets
        if not secrets:
            logger.error(
                "A PortOne webhook came but PORTONE_WEBHOOK_SECRET is not set: answered 503 "
                "(set it to the console's webhook secret)"
            )
            raise WebhookNotConfigured()
        try:
            webhook = verify_webhook(secrets, request.get_data(as_text=True), request.headers)
        except BadSignature as exc:
            logger.warning("A PortOne webhook's signature did not verify: %s", exc)
            raise InvalidSignature() from None
        g.audit_outcome = portone.act_on(webhook)
        return {"status": "received"}
