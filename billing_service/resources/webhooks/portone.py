"""PortOne V2's webhooks, once their signature is verified: what each type makes the service do.

A signature proves PortOne sent the webhook, not that the payment is as it says (webhooks come
out of order, late, twice): the payment is fetched and only its current state is acted on,
through the same path as I'mport's notices (one event per change, only for billing-key payments
of ours). ``BillingKey.Deleted`` stops the service naming that key behind its ``customer_uid``;
every other type is answered and ignored, as PortOne asks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...api.publisher import event_publisher
from ...extensions import gateway
from ...gateway import GatewayError, PaymentNotFound

logger = logging.getLogger(__name__)

# The status each type says the payment reached, in I'mport's words (a notice's).
STATUSES = {
    "Transaction.Paid": "paid",
    "Transaction.Failed": "failed",
    "Transaction.Cancelled": "cancelled",
    "Transaction.PartialCancelled": "cancelled",
}
CANCEL_TYPES = frozenset({"Transaction.Cancelled", "Transaction.PartialCancelled"})


def act_on(webhook: Any) -> str:
    """Act on a verified webhook; the outcome, for the audit trail: ``publisher.notice``'s for a
    transaction (``verified``, ``unknown``, ``mismatch``, ``not_billing_key``, ``stale``),
    ``key_forgotten`` / ``key_kept`` for a deleted key, ``ignored`` for any other type, and
    ``malformed`` for one without the ids its type needs, ``deferred`` for a transaction
    PortOne cannot be asked about now (kept, verified later, as I'mport's notices are). A
    state store that cannot keep it raises StateUnavailable: the 5xx makes PortOne send the
    webhook again."""
    kind = webhook.get("type") if isinstance(webhook, Mapping) else None
    data = webhook.get("data") if isinstance(webhook, Mapping) else None
    if not isinstance(data, Mapping):
        data = {}
    if isinstance(kind, str) and kind in STATUSES:
        return _transaction(data, kind)
    if kind == "BillingKey.Deleted":
        return _deleted_key(data)
    logger.info("PortOne webhook of type %s ignored", _printable(kind))
    return "ignored"


def _transaction(data: Mapping[str, Any], kind: str) -> str:
    transaction_id, payment_id = data.get("transactionId"), data.get("paymentId")
    if not isinstance(transaction_id, str) or not isinstance(payment_id, str):
        return "malformed"
    cancellation_id = data.get("cancellationId") if kind in CANCEL_TYPES else None
    if not isinstance(cancellation_id, str):
        cancellation_id = None
    try:
        # By its paymentId first: a transactionId the service never saw (a schedule's
        # execution, a charge whose mapping the store lost) is otherwise a text search PortOne
        # may not have indexed yet.
        payment = gateway().find_payment(payment_id)
        if payment is None or payment.imp_uid != transaction_id:
            payment = gateway().get_payment(transaction_id)
    except PaymentNotFound:  # no such attempt, or one a later attempt of its paymentId replaced
        return "unknown"
    except GatewayError:
        # Kept and verified later, as I'mport's notices are (StateUnavailable: the 5xx makes
        # PortOne send it again).
        return event_publisher().verify_later(
            transaction_id, payment_id, STATUSES[kind], cancellation_id
        )
    if payment.merchant_uid != payment_id:
        return "mismatch"
    return event_publisher().verified(payment, cancellation_id)


def _deleted_key(data: Mapping[str, Any]) -> str:
    billing_key = data.get("billingKey")
    if not isinstance(billing_key, str):
        return "malformed"
    customer_uid = gateway().forget_deleted_key(billing_key)
    if customer_uid is None:
        logger.info("A deleted PortOne billing key was not the one the service names: kept")
        return "key_kept"
    logger.info(
        "A PortOne billing key was deleted: customer_uid %s no longer names it",
        customer_uid,
        extra={"fields": {"customer_uid": customer_uid}},
    )
    return "key_forgotten"


def _printable(kind: Any) -> str:
    """A type as the log may show it: PortOne's names are short words and dots."""
    text = str(kind)[:60]
    return text if text.replace(".", "").isalnum() else "<unprintable>"
