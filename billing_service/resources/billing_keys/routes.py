"""Billing-key endpoints: issue, look up, delete."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from flask import request
from flask.views import MethodView
from werkzeug.exceptions import BadRequest

from ...api import locks
from ...api.blueprint import (
    BODY_ERRORS,
    CALLER_ERRORS,
    GATEWAY_ERRORS,
    IDEMPOTENCY_ERRORS,
    REPLAYED,
    Blueprint,
)
from ...api.http_errors import BillingKeyExists, CallerForbidden
from ...api.publisher import event_publisher
from ...extensions import gateway, shared
from ...gateway import BillingKeyNotFound
from ...security.callers import owns, requires
from ...security.card_testing import ISSUANCE, limited
from .examples import (
    ISSUE_ERROR_EXAMPLES,
    ISSUE_EXAMPLE,
    ISSUED_EXAMPLE,
    KEY_ANSWER_EXAMPLE,
)
from .schemas import (
    BillingKeyResponseSchema,
    DeleteBillingKeyQuerySchema,
    IssueBillingKeyResponseSchema,
    IssueBillingKeySchema,
)

blp = Blueprint(
    "billing-keys",
    __name__,
    url_prefix="/subscriptions",
    description="Billing keys: issue one from card details, look it up, delete it. "
    "Card data is never stored or logged.",
)

# The key an answer carries, for the links between operations.
ANSWERED_KEY = "$response.body#/billing_key/customer_uid"
KEY_LINKS = {
    "getBillingKey": {"parameters": {"customer_uid": ANSWERED_KEY}},
    "deleteBillingKey": {"parameters": {"customer_uid": ANSWERED_KEY}},
    "chargeBillingKey": {"requestBody": {"customer_uid": ANSWERED_KEY}},
}


IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "`*`: issue only if the `customer_uid` has no key yet (RFC 9110); if it "
    "has one, 412 `billing_key_exists` and nothing is replaced. Without it, issuing again "
    "replaces the key, as I'mport does. The check and the issuance are two PortOne calls: two "
    "first issuances for one `customer_uid` sent at the same moment can both pass it. Any "
    "other value is 400 `bad_request`.",
    "schema": {"type": "string", "enum": ["*"]},
}


def _require_owned(customer_uid: str) -> None:
    """A customer outside the caller's prefix answers as if it had no key (OWASP API1)."""
    if not owns(customer_uid):
        raise BillingKeyNotFound("There is no billing key under this customer_uid.")


def _refuse_if_exists(customer_uid: str) -> None:
    try:
        gateway().get_billing_key(customer_uid)
    except BillingKeyNotFound:
        return
    raise BillingKeyExists()


def _claimed(customer_uid: str) -> AbstractContextManager[None]:
    """PortOne V2 makes a new key at each issuance and deletes the ones it replaced after: the
    customer_uid is claimed for the whole issuance or deletion, so that one at a time decides
    which key is the newest (409 for another meanwhile). I'mport replaces its key in place:
    nothing to claim."""
    if shared().settings.portone is None:
        return nullcontext()
    return locks.held(locks.customer(customer_uid))


@blp.route("/issue-billing")
class IssueBilling(MethodView):
    @requires("issue")
    @blp.operation("issueBillingKey", **KEY_LINKS)
    @blp.idempotent(IF_NONE_MATCH)
    @blp.body(IssueBillingKeySchema, example=ISSUE_EXAMPLE)
    @blp.response(
        200,
        IssueBillingKeyResponseSchema,
        headers=REPLAYED,
        example=ISSUED_EXAMPLE,
    )
    @blp.errors(
        *CALLER_ERRORS,
        "rate_limited",
        "card_rejected",
        "billing_key_exists",
        "bad_request",
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
        *GATEWAY_ERRORS,
        examples=ISSUE_ERROR_EXAMPLES,
    )
    @limited(*ISSUANCE)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Issue a billing key from card details

        Asks PortOne to issue a billing key under
        `customer_uid` (`POST /subscribe/customers/{customer_uid}`). Issuing again under the same
        `customer_uid` replaces the key (`replaced: true`). Accepts JSON or an HTML form body.
        Scope `issue`; limited per caller, per `customer_uid` and per card (429). With
        `If-None-Match: *`, a `customer_uid` that has a key already answers 412 and nothing
        is replaced.
        """
        customer_uid = args["customer_uid"]
        if not owns(customer_uid):
            raise CallerForbidden("This caller key may not issue keys for this customer_uid.")
        precondition = request.headers.get("If-None-Match")
        if precondition is not None and precondition.strip() != "*":
            # No entity tags here: only "*" (any key at all) means something.
            raise BadRequest("If-None-Match takes only '*' here.")
        with _claimed(customer_uid):
            if precondition is not None:
                _refuse_if_exists(customer_uid)
            billing_key = gateway().issue_billing_key(customer_uid, args["card"], args["customer"])
            if billing_key.provider_key is not None:
                # After every issuance, not only one answered `replaced`: a retry replayed by
                # PortOne after a lost answer reads as a first issuance.
                event_publisher().delete_replaced_keys(customer_uid, billing_key.provider_key)
        return {"billing_key": billing_key}


@blp.route("/billing-keys/<id:customer_uid>")
class BillingKeysById(MethodView):
    @requires("read")
    @blp.operation(
        "getBillingKey",
        deleteBillingKey=KEY_LINKS["deleteBillingKey"],
        chargeBillingKey=KEY_LINKS["chargeBillingKey"],
    )
    @blp.response(
        200,
        BillingKeyResponseSchema,
        example=KEY_ANSWER_EXAMPLE,
    )
    @blp.errors(*CALLER_ERRORS, "billing_key_not_found", *GATEWAY_ERRORS)
    @blp.long_request_line
    def get(self, customer_uid: str) -> dict[str, Any]:
        """Look up a billing key

        Calls `GET /subscribe/customers/{customer_uid}`. The card number is masked. Scope `read`.
        """
        _require_owned(customer_uid)
        return {"billing_key": gateway().get_billing_key(customer_uid)}

    # After a deletion, the key must be gone (Schemathesis's use_after_free check).
    @requires("delete")
    @blp.operation("deleteBillingKey", getBillingKey=KEY_LINKS["getBillingKey"])
    @blp.arguments(DeleteBillingKeyQuerySchema(), location="query")
    @blp.response(
        200,
        BillingKeyResponseSchema,
        example=KEY_ANSWER_EXAMPLE,
    )
    @blp.errors(
        *CALLER_ERRORS,
        "billing_key_not_found",
        "schedules_pending",
        "request_in_progress",
        "state_unavailable",
        "invalid_request",
        *GATEWAY_ERRORS,
    )
    @blp.long_request_line
    def delete(self, args: dict[str, Any], customer_uid: str) -> dict[str, Any]:
        """Delete a billing key

        Calls `DELETE /subscribe/customers/{customer_uid}` and answers with the deleted key.
        A deleted key cannot be restored; payments made with it stay. A key with scheduled
        charges is not deleted (409 `schedules_pending`) unless `revoke_schedules=true`, which
        revokes them first. Scope `delete`.
        """
        _require_owned(customer_uid)
        with _claimed(customer_uid):
            deleted = gateway().delete_billing_key(
                customer_uid, args.get("reason"), revoke_schedules=args["revoke_schedules"]
            )
        return {"billing_key": deleted}
