"""The run-time switches of the PortOne V2 fake, changed through `POST /__sandbox__/config`."""

from __future__ import annotations

import dataclasses

CANCEL_OUTCOMES = ("SUCCEEDED", "REQUESTED", "FAILED")
IDEMPOTENCY_MISMATCH = ("reject", "replay")
TOTAL_COUNTS = ("returned", "matching")
PAYMENT_LISTS = ("latest", "attempts")


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


CONFIG_TYPES: dict[str, type] = {
    "latency_ms": int,
    "unauthorized": bool,
    "failed_blocks_payment_id": bool,
    "decline_records_payment": bool,
    "cancel_outcome": str,
    "idempotency_mismatch": str,
    "total_count": str,
    "payment_list": str,
}
# Keys that take only a few values; any other int key must be >= 0.
CONFIG_CHOICES: dict[str, tuple[object, ...]] = {
    "cancel_outcome": CANCEL_OUTCOMES,
    "idempotency_mismatch": IDEMPOTENCY_MISMATCH,
    "total_count": TOTAL_COUNTS,
    "payment_list": PAYMENT_LISTS,
}
