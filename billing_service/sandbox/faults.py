"""One-shot faults on any provider route, queued by `POST /__sandbox__/faults`.

The magic cards and order-id prefixes fault every time and only on two routes; these
faults hit the next calls of any route (a cancel, a lookup, getToken) and then stop, so a test
can check that a client gets through a lost answer and recovers on the next call. What a fault
that answers instead of processing says is the provider's (`Fake.fault_reply`).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from .wire import TRICKLE_INTERVAL, Reply

DROP = "drop"  # processed normally (state changes happen), then TCP reset
LOST = "lost"  # TCP reset before anything is processed
HANG = "hang"  # processed normally, answered after hang_seconds
HTTP_500 = "http_500"  # HTTP 500 error before anything is processed
HTTP_401 = "http_401"  # HTTP 401 error before anything is processed: credentials rotated
TRICKLE_HEADERS = "trickle_headers"  # processed normally, status line and headers byte by byte
STALL = "stall"  # held for hang_seconds before it is processed (the provider still working)
PG_REFUSAL = "pg_refusal"  # the PG's refusal, before anything is processed
# Not a route fault: a magic input's answer sent one byte per TRICKLE_INTERVAL (see `slowed`).
TRICKLE = "trickle"

NAMES = (DROP, LOST, HANG, HTTP_500, HTTP_401, TRICKLE_HEADERS, STALL, PG_REFUSAL)
# These strike instead of processing the call; the others after it (STALL: before and after).
BEFORE = frozenset({LOST, HTTP_500, HTTP_401, PG_REFUSAL})

# --- Magic order-id prefixes: the "outcome unknown" faults of a charge, in every fake ---
# (I'mport's `merchant_uid`, PortOne V2's `paymentId`). The body is always read completely
# first, so keep-alive framing is never the cause.
FAULT_DROP = "fault-drop-"  # processed normally (paid/failed stored), then TCP reset
FAULT_HANG = "fault-hang-"  # processed normally, answered after hang_seconds
FAULT_TRICKLE = "fault-trickle-"  # processed normally, answered one byte per TRICKLE_INTERVAL
FAULT_READY = "fault-ready-"  # stored as not yet answered by the PG, then TCP reset
FAULT_LOST = "fault-lost-"  # TCP reset before anything is processed
FAULT_500 = "fault-500-"  # HTTP 500 before anything is processed
# Not a fault: stored as not yet answered by the PG, and answered. The PG is still working on
# it; a test settles it later through the fake's admin endpoint.
PENDING = "pending-"


@dataclasses.dataclass
class _QueuedFault:
    route: str  # "POST /payments/cancel"
    fault: str  # one of NAMES
    times: int  # calls left to strike


class FaultQueue:
    """The route faults still to strike, oldest first, guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_QueuedFault] = []

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def queue(self, route: str, fault: str, times: int) -> list[dict[str, Any]]:
        """Queue `fault` for the next `times` calls of `route` (already validated); the queue."""
        with self._lock:
            self._faults.append(_QueuedFault(route, fault, times))
            return self._snapshot()

    def take(self, route: str) -> str | None:
        """Use up one strike of the oldest fault queued for `route`; its name, or None.

        Under the lock: of two concurrent calls, only one can take the last strike.
        """
        with self._lock:
            for queued in self._faults:
                if queued.route == route:
                    queued.times -= 1
                    if queued.times == 0:
                        self._faults.remove(queued)
                    return queued.fault
            return None

    def snapshot(self) -> list[dict[str, Any]]:
        """`[{"route", "fault", "times"}, ...]`: what is still queued, oldest first."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(queued) for queued in self._faults]


def after(fault: str | None, reply: Reply | None, hang_seconds: float) -> Reply | None:
    """The answer of a processed call, changed by a fault that strikes after processing.

    A call that resets anyway (a magic prefix) stays a reset: there is no answer to slow down.
    """
    if reply is None:
        return None
    if fault == DROP:
        return None  # whatever happened is stored; the caller never hears of it
    if fault == HANG:
        return dataclasses.replace(reply, delay=hang_seconds)
    if fault == TRICKLE_HEADERS:
        return dataclasses.replace(reply, head_trickle=TRICKLE_INTERVAL)
    return reply


def pace_of(order_id: str) -> str | None:
    """How an order id's magic prefix slows its answer: HANG, TRICKLE or None."""
    if order_id.startswith(FAULT_HANG):
        return HANG
    return TRICKLE if order_id.startswith(FAULT_TRICKLE) else None


def slowed(reply: Reply, pace: str | None, hang_seconds: float) -> Reply:
    """A processed call's answer as its magic input asks (a magic card's fault, `pace_of` an
    order id): HANG holds it back `hang_seconds`, TRICKLE sends it one byte per
    TRICKLE_INTERVAL."""
    if pace == HANG:
        return dataclasses.replace(reply, delay=hang_seconds)
    if pace == TRICKLE:
        return dataclasses.replace(reply, trickle=TRICKLE_INTERVAL)
    return reply
