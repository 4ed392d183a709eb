"""``POST /webhooks/iamport``: I'mport's notices, verified by fetching the payment.

The notice carries no signature (V1 has none), so it is only a hint: the payment is fetched
from I'mport and only what I'mport says is acted on. Whatever the notice, I'mport gets 200 once
it is handled or kept (it sends a notice once, and retries only on network errors and 5xx if
the merchant asked): a forged or stale notice is audited and produces nothing.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import current_app, g
from flask.views import MethodView
from werkzeug.exceptions import NotFound

from ...api.blueprint import BODY_ERRORS, Blueprint
from ...api.guards import client_address, within
from ...api.http_errors import CallerForbidden
from ...api.publisher import event_publisher
from .examples import NOTICE_EXAMPLE, RECEIVED_EXAMPLE
from .schemas import NoticeAnswerSchema, NoticeSchema

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/webhooks",
    description="I'mport's payment notices. Set I'mport's console notice URL (결제알림 "
    "(Webhook) 관리, V1) to `/webhooks/iamport` (or `/webhooks/iamport/{token}` with "
    "BILLING_WEBHOOK_TOKEN).",
)


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
        with BILLING_WEBHOOK_TOKEN.
        """
        settings = current_app.config["BILLING_SETTINGS"]
        expected = settings.webhook_token
        if (expected is None) != (token is None) or (
            expected is not None and not hmac.compare_digest(expected, token or "")
        ):
            raise NotFound()
        g.audit_action = "webhook"
        allowed = settings.webhook_allowed_ips
        if allowed is not None and not within(client_address(settings.trusted_proxies), allowed):
            raise CallerForbidden("This address may not post I'mport notices.")
        g.audit_outcome = event_publisher().notice(
            notice["imp_uid"],
            notice.get("merchant_uid"),
            notice.get("status"),
            notice.get("cancellation_id"),
        )
        return {"status": "received"}
