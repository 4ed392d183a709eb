"""The run-time switches of the PortOne V2 fake, changed through `POST /__sandbox__/config`."""

from __future__ import annotations

import dataclasses

CANCEL_OUTCOMES = ("SUCCEEDED", "REQUESTED", "FAILED")
IDEMPOTENCY_MISMATCH = ("reject", "replay")
TOTAL_COUNTS = ("returned", "matching")
PAYMENT_LISTS = ("latest", "attempts")
REVOKE_NOTHING = ("error", "ok")


@dataclasses.dataclass(frozen=True)
class Config:
    """Switches changeable at run time through `POST /__sandbox__/config`."""

    latency_ms: int = 0  # added to every PortOne response (a network round trip)
    unauthorized: bool = False  # every business call answers 401: the secret was revoked
    # The switches below play each variant of what the notes leave UNCONFIRMED (§10), so a
    # client can be tested against all of them.
    # §10.7: a FAILED (or READY / PAY_PENDING) attempt also takes the paymentId: 409 ALREADY_PAID.
    failed_blocks_payment_id: bool = False
    # §10.7: a decline (502 PG_PROVIDER) leaves a readable FAILED attempt.
    decline_records_payment: bool = True
    # How the PG answers a cancel: at once, asynchronously (REQUESTED), or refusing it (FAILED).
    cancel_outcome: str = "SUCCEEDED"
    # The same Idempotency-Key with another request: 400 INVALID_REQUEST, or the stored answer.
    idempotency_mismatch: str = "reject"
    # §10.3: `page.totalCount` of the searches: the items returned, or every match.
    total_count: str = "returned"
    # `GET /payments`: one item per paymentId (its latest attempt), or one per attempt.
    payment_list: str = "latest"
    # §10.10: revoking a key's schedules when none is SCHEDULED: 404 PAYMENT_SCHEDULE_NOT_FOUND
    # (a third party saw an error), or 200 with no ids.
    revoke_nothing: str = "error"
    # Not documented: whether a revoked schedule's paymentId may be scheduled again (else 409
    # PAYMENT_SCHEDULE_ALREADY_EXISTS).
    reschedule_revoked: bool = True
    # The console's webhook URL (None: only payments and keys with noticeUrls get webhooks).
    webhook_url: str | None = None
    # Webhooks due together (within webhooks.DISORDER_WINDOW) go newest first, each twice with
    # the same webhook-id: the order and at-least-once delivery a receiver must survive.
    webhook_disorder: bool = False
    # Connect and read timeouts of a webhook delivery (PortOne's: 30 s each).
    webhook_timeout_ms: int = 30_000


CONFIG_TYPES: dict[str, type] = {
    "latency_ms": int,
    "unauthorized": bool,
    "failed_blocks_payment_id": bool,
    "decline_records_payment": bool,
    "cancel_outcome": str,
    "idempotency_mismatch": str,
    "total_count": str,
    "payment_list": str,
    "revoke_nothing": str,
    "reschedule_revoked": bool,
    "webhook_url": str,
    "webhook_disorder": bool,
    "webhook_timeout_ms": int,
}
CONFIG_NULLABLE = frozenset({"webhook_url"})
# Keys that take only a few values; any other int key must be >= 0.
CONFIG_CHOICES: dict[str, tuple[object, ...]] = {
    "cancel_outcome": CANCEL_OUTCOMES,
    "idempotency_mismatch": IDEMPOTENCY_MISMATCH,
    "total_count": TOTAL_COUNTS,
    "payment_list": PAYMENT_LISTS,
    "revoke_nothing": REVOKE_NOTHING,
}
