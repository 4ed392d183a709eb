"""The call log of `GET /__sandbox__/calls`: counts per route, the recent calls, those in flight.

It never holds bodies, amounts, card data or tokens: a call is its method, route, path, status,
the form of its credentials, its request id and the shapes of the card fields it sent.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

CALL_LOG_LIMIT = 10_000  # keep memory flat under benchmarks; counts stay exact


def call_key(method: str, route: str | None) -> str:
    """``"POST /subscribe/customers/{customer_uid}"``; an unknown path is ``<unknown>``."""
    return f"{method} {route if route is not None else '<unknown>'}"


class CallLog:
    """The calls a provider's fake answered, guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._calls: collections.deque[dict[str, Any]] = collections.deque(maxlen=CALL_LOG_LIMIT)
        # Calls received and not answered yet, by route; not cleared by clear(), since they are
        # still running.
        self._in_flight: collections.Counter[str] = collections.Counter()

    def clear(self) -> None:
        """Forget the counts and the calls (not those in flight)."""
        with self._lock:
            self._counts.clear()
            self._calls.clear()

    def record(
        self,
        method: str,
        route: str | None,
        path: str,
        status: int | None,
        authorization: str | None,
        request_id: str | None,
        shapes: dict[str, str],
    ) -> None:
        """Remember one call; `status` None means the connection was reset.

        `shapes` holds only the format of the card fields (digits as ``d``), never their values.
        """
        call = {
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "authorization": authorization,
            "request_id": request_id,
            "shapes": shapes,
        }
        with self._lock:
            self._counts[call_key(method, route)] += 1
            self._calls.append(call)

    def started(self, method: str, route: str | None) -> str:
        """Count a call as in flight until `ended` with the key returned."""
        key = call_key(method, route)
        with self._lock:
            self._in_flight[key] += 1
        return key

    def ended(self, key: str) -> None:
        with self._lock:
            self._in_flight[key] -= 1
            if self._in_flight[key] <= 0:
                del self._in_flight[key]

    def snapshot(self) -> dict[str, Any]:
        """`{"counts": {...}, "calls": [...], "in_flight": {...}}` for the admin API."""
        with self._lock:
            return {
                "counts": dict(self._counts),
                "calls": list(self._calls),
                "in_flight": dict(self._in_flight),
            }
