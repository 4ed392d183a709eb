"""The scheduler thread each provider's fake runs: execute what is due on the sandbox clock,
then sleep until the next due time; woken early by the state's `schedules_changed` (a schedule
added or revoked, the clock moved, a reset, shutdown).
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Protocol

MAX_SLEEP = 60.0  # the scheduler re-reads the clock at least this often (wall-clock jumps)


class Schedules(Protocol):
    """What the scheduler reads of a provider's state."""

    schedules_changed: threading.Event

    def next_due_at(self) -> float | None: ...

    def precise_now(self) -> float: ...


def start(
    name: str, stopping: threading.Event, state: Schedules, execute_due: Callable[[], object]
) -> threading.Thread:
    """Start the scheduler thread; it stops once `stopping` is set (and `schedules_changed`)."""
    thread = threading.Thread(
        target=_run, args=(stopping, state, execute_due), name=name, daemon=True
    )
    thread.start()
    return thread


def _run(stopping: threading.Event, state: Schedules, execute_due: Callable[[], object]) -> None:
    while not stopping.is_set():
        state.schedules_changed.clear()
        try:
            execute_due()
        except Exception:  # keep the thread alive: later schedules must still run
            traceback.print_exc(file=sys.stderr)
        next_at = state.next_due_at()
        timeout = MAX_SLEEP
        if next_at is not None:
            timeout = min(MAX_SLEEP, max(0.0, next_at - state.precise_now()) + 0.001)
        state.schedules_changed.wait(timeout)
