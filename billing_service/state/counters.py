"""The card-testing limits' counters (``Counters``: what security.card_testing counts in).

``StoreCounters`` counts in the state store (the embedded one: shared by an instance's workers;
the shared one: by every replica), and in the embedded store while the shared one is down.
``FixedWindowCounters`` counts in this process's memory (``memory://``, for tests only); it is
also a storage of the ``limits`` library (``billing-fixed-window-memory://``).

FixedWindowCounters: fixed-window counters, dropped on expiry.

limits' own MemoryStorage runs a timer thread that, every 10 ms while counters exist, walks all
of them to find the expired ones. The limits keep one counter per ``customer_uid`` and per card
for an hour, so that walk grows with traffic: at 50,000 counters it took 9.5 ms of CPU, a
hundred times a second, under the GIL the request threads need. Here each counter's window end
goes on a heap when the window opens, and every update first pops the windows that have ended:
the work per request is a heap operation, however many counters there are.

Only the fixed-window strategy is supported, the one the service uses.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from limits.storage import Storage

from .store import Hit, Refused, StateStore, StateUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long the shared store is left alone after it failed, before it is tried again: meanwhile a
# request costs what it costs on the embedded store, not a Redis timeout.
RETRY_SHARED_AFTER = 5.0


class Counters(Protocol):
    """Where the card-testing limits count (security.card_testing)."""

    def hit_all(self, hits: Sequence[Hit]) -> Refused | None:
        """See StateStore.hit_all; StateUnavailable when it cannot be done."""

    def refund(self, keys: Sequence[str]) -> None:
        """Take one attempt back from each open window; a failure is logged, not raised."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count an outcome (a 402); a failure is logged, not raised: the answer stands."""


class StoreCounters:
    """Fixed-window counters in ``primary``, or in ``fallback`` while ``primary`` is down.

    The limits are checked and counted before the request (``hit_all``), and a store that
    cannot do it refuses the request (503, nothing sent to I'mport). The refusal budget is
    counted after the answer (a 402): a count that cannot be written then is logged, not
    raised: the answer, a charge's included, stands.
    """

    def __init__(
        self,
        primary: StateStore,
        fallback: StateStore | None = None,
        on_fallback: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._on_fallback = on_fallback
        self._clock = clock
        self._retry_at = 0.0
        self._degraded = False

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        try:
            return self._use(lambda store: store.incr(key, expiry, amount))
        except StateUnavailable:
            logger.warning("A card-testing counter could not be written", exc_info=True)
            return amount

    def hit_all(self, hits: Sequence[Hit]) -> Refused | None:
        return self._use(lambda store: store.hit_all(hits))

    def refund(self, keys: Sequence[str]) -> None:
        try:
            self._use(lambda store: store.refund(keys))
        except StateUnavailable:
            logger.warning("A card-testing counter could not be taken back", exc_info=True)

    def _use(self, operation: Callable[[StateStore], T]) -> T:
        if self._fallback is not None and self._clock() < self._retry_at:
            return operation(self._fallback)
        try:
            result = operation(self._primary)
        except StateUnavailable:
            if self._fallback is None:
                raise
            self._retry_at = self._clock() + RETRY_SHARED_AFTER
            if not self._degraded:
                self._degraded = True
                logger.warning(
                    "The shared state store is down: card-testing limits count in this "
                    "instance's embedded store until it is back",
                    exc_info=True,
                )
                self._notify(True)
            return operation(self._fallback)
        if self._degraded:
            self._degraded = False
            logger.warning("The shared state store is back: card-testing limits count there")
            self._notify(False)
        return result

    def _notify(self, degraded: bool) -> None:
        if self._on_fallback is not None:
            self._on_fallback(degraded)


class FixedWindowCounters(Storage):
    STORAGE_SCHEME = ["billing-fixed-window-memory"]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, end of the window)
        self._ends: list[tuple[float, str]] = []  # heap of every open window's end
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._clock()
        with self._lock:
            self._drop_ended(now)
            return self._add(key, expiry, amount, now)

    def get(self, key: str) -> int:
        count, end = self._windows.get(key, (0, 0.0))
        return count if end > self._clock() else 0

    def hit_all(self, hits: Sequence[Hit]) -> Refused | None:
        now = self._clock()
        with self._lock:
            self._drop_ended(now)
            full = [
                Refused(hit, end - now)
                for hit in hits
                for count, end in [self._windows.get(hit.key, (0, now))]
                if count >= hit.limit
            ]
            if full:
                return max(full, key=lambda refused: refused.retry_after)
            for hit in hits:
                if hit.counts:
                    self._add(hit.key, hit.expiry, 1, now)
        return None

    def refund(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                count, end = self._windows.get(key, (0, 0.0))
                if count > 0 and end > self._clock():
                    self._windows[key] = (count - 1, end)

    def get_expiry(self, key: str) -> float:
        now = self._clock()
        count, end = self._windows.get(key, (0, now))
        return end if end > now else now

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            dropped = len(self._windows)
            self._windows.clear()
            self._ends.clear()
            return dropped

    def clear(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)  # its heap entry is dropped when its window ends

    def _add(self, key: str, expiry: int, amount: int, now: float) -> int:
        count, end = self._windows.get(key, (0, 0.0))
        if count == 0:
            end = now + expiry
            heapq.heappush(self._ends, (end, key))
        self._windows[key] = (count + amount, end)
        return count + amount

    def _drop_ended(self, now: float) -> None:
        ends = self._ends
        while ends and ends[0][0] <= now:
            end, key = heapq.heappop(ends)
            if self._windows.get(key, (0, 0.0))[1] == end:  # not a cleared and reopened window
                del self._windows[key]
