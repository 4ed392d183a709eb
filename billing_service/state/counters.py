"""The card-testing limits' counters, as storages of the ``limits`` library.

``StoreCounters`` counts in the state store (the embedded one: shared by an instance's workers;
the shared one: by every replica), and in the embedded store while the shared one is down.
``FixedWindowCounters`` counts in this process's memory (``memory://``, for tests only).

FixedWindowCounters: fixed-window counters, dropped on expiry.

limits' own MemoryStorage runs a timer thread that, every 10 ms while counters exist, walks all
of them to find the expired ones. The limits keep one counter per ``customer_uid`` and per card
for an hour, so that walk grows with traffic: at 50,000 counters it took 9.5 ms of CPU, a
hundred times a second, under the GIL the request threads need. Here each counter's window end
goes on a heap when the window opens, and every update first pops the windows that have ended:
the work per request is a heap operation, however many counters there are.

Only the fixed-window strategy is supported, flask-limiter's default and the one the service
uses.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from limits.storage import Storage

from .store import StateStore, StateUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long the shared store is left alone after it failed, before it is tried again: meanwhile a
# request costs what it costs on the embedded store, not a Redis timeout.
RETRY_SHARED_AFTER = 5.0


class StoreCounters(Storage):
    """Fixed-window counters in ``primary``, or in ``fallback`` while ``primary`` is down.

    The service's limits are all deducted after the answer (``deduct_when``): before the view
    they are only read. So a store that cannot be read refuses the request (503, nothing sent
    to I'mport), and one that cannot be written after the answer is logged, not raised: the
    answer, a charge's included, stands.
    """

    STORAGE_SCHEME = ["billing-state"]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        primary: StateStore,
        fallback: StateStore | None = None,
        on_fallback: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._on_fallback = on_fallback
        self._clock = clock
        self._retry_at = 0.0
        self._degraded = False
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return StateUnavailable

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        try:
            return self._use(lambda store: store.incr(key, expiry, amount))
        except StateUnavailable:
            logger.warning("A card-testing counter could not be written", exc_info=True)
            return amount

    def get(self, key: str) -> int:
        return self._use(lambda store: store.get(key))

    def get_expiry(self, key: str) -> float:
        return self._use(lambda store: store.get_expiry(key))

    def check(self) -> bool:
        try:
            self._use(lambda store: store.check())
        except StateUnavailable:
            return False
        return True

    def reset(self) -> int | None:
        return None

    def clear(self, key: str) -> None:
        self._use(lambda store: store.clear(key))

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
            count, end = self._windows.get(key, (0, 0.0))
            if count == 0:
                end = now + expiry
                heapq.heappush(self._ends, (end, key))
            self._windows[key] = (count + amount, end)
            return count + amount

    def get(self, key: str) -> int:
        count, end = self._windows.get(key, (0, 0.0))
        return count if end > self._clock() else 0

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

    def _drop_ended(self, now: float) -> None:
        ends = self._ends
        while ends and ends[0][0] <= now:
            end, key = heapq.heappop(ends)
            if self._windows.get(key, (0, 0.0))[1] == end:  # not a cleared and reopened window
                del self._windows[key]
