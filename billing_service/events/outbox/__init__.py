"""The outbox: events to send to internal subscribers, kept until each one has them.

``add`` writes one delivery per subscriber URL, due at once (``add_job``: one job of a kind of
the service's own, run by the consumer's handler of that kind, never sent); a consumer
``claim``s due ones, which pushes their due time to the end of a lease, sends them, then
records the outcome (``delivered``, ``retry_at``, ``give_up``). A consumer that dies
mid-attempt records nothing: its deliveries are due again when their lease ends, and another
consumer sends them (at least once, never lost). An outcome is recorded only under the lease
it was claimed with, so an attempt that outlived its lease cannot overwrite what the newer
claim recorded.

``EmbeddedOutbox`` (``embedded``) keeps the outbox in the embedded store's SQLite file,
``SharedOutbox`` (``shared``) in Redis; both apply the rules of ``rules`` (``finish``) the same
way, in one atomic read-then-write. Delivered and failed deliveries are kept for the outbox's
retention from their event's creation, then listed no more and pruned (``prune``).
"""

from __future__ import annotations

from .embedded import EmbeddedOutbox
from .rules import (
    DEDUP_TTL_S,
    DELIVERY,
    PRUNE_BATCH,
    STATUSES,
    Delivery,
    EventRecord,
    Keep,
    Outbox,
    Status,
)
from .shared import SharedOutbox

__all__ = [
    "DEDUP_TTL_S",
    "DELIVERY",
    "PRUNE_BATCH",
    "STATUSES",
    "Delivery",
    "EmbeddedOutbox",
    "EventRecord",
    "Keep",
    "Outbox",
    "SharedOutbox",
    "Status",
]
