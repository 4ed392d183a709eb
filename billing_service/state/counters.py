"""The rate limits' in-process storage (``memory://``): fixed-window counters, dropped on expiry.

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
import threading
import time
from collections.abc import Callable
from typing import Any

from limits.storage import Storage


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
