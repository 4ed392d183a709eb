"""What follows a PortOne V2 re-issuance, as a recorded job of the outbox: the customer's
scheduled charges move to the new key, then the keys it replaced are deleted.

I'mport keeps one key per ``customer_uid``, and its schedules charge whatever card the key holds
now; V2 issues a new key each time. So each V2 issuance records this job (``EventPublisher``
keeps it): the schedules of older keys are moved one at a time (revoked, then scheduled again
with the same ``paymentId``, time and body), and only then are the older keys deleted; a key
that still holds a schedule PortOne would not take again is kept, with the rest of its
schedules. A refusal stops the move for good: it is audited and told as ``schedule.failed``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from ..events.outbox import Delivery
from ..gateway import IDEMPOTENCY_SEED, GatewayError, MoveResult, PaymentGateway

logger = logging.getLogger(__name__)
audit = logging.getLogger("billing_service.audit")

DELETE_REPLACED_KEYS = "delete-replaced-keys"


def replaced_keys_job(
    client: PaymentGateway, tell: Callable[[str, dict[str, Any], str], None]
) -> Callable[[Delivery], bool]:
    """The handler of DELETE_REPLACED_KEYS jobs; ``tell(event_type, data, dedup_key)`` sends
    an event to the subscribers."""

    def run(delivery: Delivery) -> bool:
        target = json.loads(delivery.body)["data"]
        customer_uid, keep = target["customer_uid"], target["keep"]
        # The job's own seed of PortOne's Idempotency-Keys: a re-schedule whose answer was lost
        # is replayed to the next run, never scheduled twice.
        seed = IDEMPOTENCY_SEED.set(
            hashlib.sha256(f"replaced-keys:{customer_uid}:{keep}".encode()).hexdigest()
        )
        try:
            moved = client.move_schedules(customer_uid, keep)
            if moved.refused is not None:
                _refused(moved, customer_uid, tell)
            deleted = client.delete_replaced_keys(customer_uid, keep)
        except GatewayError:
            logger.warning("A re-issuance's schedules or keys are not settled yet", exc_info=True)
            return False
        finally:
            IDEMPOTENCY_SEED.reset(seed)
        if moved.moved or deleted:
            logger.info(
                "Re-issuance settled: %d schedule(s) moved, %d replaced key(s) deleted",
                len(moved.moved),
                len(deleted),
            )
        return True

    return run


def _refused(
    moved: MoveResult, customer_uid: str, tell: Callable[[str, dict[str, Any], str], None]
) -> None:
    refused = moved.refused
    assert refused is not None
    audit.warning(
        "A scheduled charge could not move to the re-issued key",
        extra={
            "fields": {
                "action": "move_schedules",
                "customer_uid": customer_uid,
                "merchant_uid": refused.merchant_uid,
                "outcome": "refused",
            }
        },
    )
    tell(
        "schedule.failed",
        {
            "schedule": {
                "customer_uid": customer_uid,
                "merchant_uid": refused.merchant_uid,
                "amount": refused.amount,
                "schedule_at": refused.schedule_at.isoformat(),
            },
            "reason": moved.reason,
            "source": "reissuance",
        },
        f"schedule-move:{refused.merchant_uid}",
    )
