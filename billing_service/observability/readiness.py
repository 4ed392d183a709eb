"""What ``/readyz`` answers: background checks of whether this worker can serve.

Each check runs in its own thread, started after gunicorn forks the worker (``post_worker_init``)
or by the first ``/readyz`` of a process (the Flask test client), so the probe answers at once
from what was last found, however slow I'mport is. A check finds ``ok``; ``degraded``, reported
but not this instance's fault (I'mport down or slow, the shared Redis down: every replica sees
the same, and leaving the Service would turn ``503 gateway_unavailable`` into connection errors);
or ``failing``, this instance's own fault, which makes it not ready (503). ``unknown``: not
checked yet.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..api.errors import not_ready_reason
from ..events import EventConsumer
from ..gateway import REQUEST_ID, GatewayAuthFailed, GatewayError, PaymentGateway
from ..state import SharedStore, StateStore, StateUnavailable, UnsafeRedis
from .metrics import Metrics

logger = logging.getLogger(__name__)

Status = Literal["ok", "degraded", "failing", "unknown"]
# How often each check runs. The store's is read every second, so that a Redis whose eviction
# policy changed makes the instance unready within 5 s; I'mport's costs a call only when the
# token is stale (a cached one is checked without any).
STORE_INTERVAL = 1.0
IAMPORT_INTERVAL = 5.0
# How long /readyz waits for a process's first results (its probe must answer within 1 s).
FIRST_RESULTS_WAIT = 0.8


@dataclass(frozen=True)
class Finding:
    status: Status
    message: str | None = None


UNKNOWN = Finding("unknown", "Not checked yet.")
OK = Finding("ok")


class Readiness:
    """This worker's checks and what they last found."""

    def __init__(
        self,
        client: PaymentGateway,
        store: StateStore,
        consumer: EventConsumer | None,
        metrics: Metrics,
    ) -> None:
        self._client = client
        self._store = store
        self._consumer = consumer
        self._metrics = metrics
        self._checks: dict[str, tuple[Callable[[], Finding], float]] = {
            "iamport": (self._check_iamport, IAMPORT_INTERVAL),
            "state_store": (self._check_store, STORE_INTERVAL),
        }
        self._found: dict[str, Finding] = {}
        self._changed = threading.Condition()
        self._started_in: int | None = None  # the pid whose threads run the checks
        self._stop = threading.Event()
        self._had_token = False  # I'mport gave this process a token once

    def start(self) -> None:
        """Start the checks' threads in this process (again after a fork: threads do not
        cross one); a no-op once they run."""
        with self._changed:
            if self._started_in == os.getpid():
                return
            self._started_in = os.getpid()
            self._found = {}
            self._stop.clear()
        for name, (_, interval) in self._checks.items():
            thread = threading.Thread(
                target=_repeat,
                args=(weakref.ref(self), name, interval, self._stop),
                name=f"readiness-{name}",
                daemon=True,
            )
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def findings(self, wait: float = FIRST_RESULTS_WAIT) -> dict[str, Finding]:
        """What each check found last; waits up to ``wait`` s for a first result of each."""
        deadline = time.monotonic() + wait
        with self._changed:
            self._changed.wait_for(
                lambda: len(self._found) == len(self._checks), deadline - time.monotonic()
            )
            found = {name: self._found.get(name, UNKNOWN) for name in self._checks}
        return found | {"event_consumer": self._check_consumer()}

    def run(self, name: str) -> None:
        """Run one check now and keep what it found."""
        try:
            finding = self._checks[name][0]()
        except Exception:  # a bug in a check must not stop its thread, nor pass for ready
            logger.exception("The readiness check %s failed", name)
            finding = Finding("failing", f"The {name} check itself failed; see the log.")
        self._metrics.observe_readiness_check(name, finding.status == "ok")
        with self._changed:
            self._found[name] = finding
            self._changed.notify_all()

    def _check_iamport(self) -> Finding:
        try:
            self._client.check_ready()
        except GatewayAuthFailed as exc:
            if not self._had_token:  # a bad rollout: never take traffic with it
                return Finding("failing", not_ready_reason(exc))
            return Finding(
                "degraded",
                "I'mport refuses the service's API credentials since a token was had: were "
                "they rotated? Business calls fail with 502 gateway_auth_failed.",
            )
        except GatewayError as exc:
            return Finding("degraded", not_ready_reason(exc))
        self._had_token = True
        return OK

    def _check_store(self) -> Finding:
        try:
            self._store.check()
        except UnsafeRedis as exc:
            return Finding("failing", str(exc))
        except StateUnavailable as exc:
            if isinstance(self._store, SharedStore):
                return Finding(
                    "degraded",
                    "The shared state store (Redis) cannot be reached: reads and issuance go "
                    "on; charges, cancels and schedules answer 503 state_unavailable.",
                )
            return Finding("failing", f"The embedded state store cannot be used: {exc}")
        return OK

    def _check_consumer(self) -> Finding:
        consumer = self._consumer
        if consumer is None or not consumer.started:
            return Finding("unknown", "Not started in this process.")
        if not consumer.alive():
            return Finding("failing", "The event consumer of this worker has stopped.")
        return OK


def ready(findings: Mapping[str, Finding]) -> Finding | None:
    """The first failing finding (None: ready)."""
    return next((f for f in findings.values() if f.status == "failing"), None)


def _repeat(ref: weakref.ref[Readiness], name: str, interval: float, stop: threading.Event) -> None:
    """Run a check every ``interval`` s until stopped or its Readiness is gone (an app a
    test dropped)."""
    # What the check sends I'mport (a token fetch) and logs carries this id, as a request's do.
    REQUEST_ID.set(f"readiness-{name}")
    while not stop.is_set():
        readiness = ref()
        if readiness is None:
            return
        readiness.run(name)
        del readiness
        stop.wait(interval)
