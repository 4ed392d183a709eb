"""Prometheus metrics: requests, I'mport calls, token fetches, rate-limit rejections, readiness.

Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn.conf.py) and prometheus-client
runs in multiprocess mode: each worker writes its numbers to memory-mapped files in that
directory and ``/metrics``, whichever worker answers it, adds up every worker's files, those of
workers that have exited included (counters never go back). Without it (the Flask test client),
each app counts in its own registry.

Labels are fixed, low-cardinality names: route templates (never a raw path), methods, statuses,
I'mport operation names and outcomes, limit names. No customer identifier or card data can
become a label.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. Requests and I'mport calls can last as long as the I'mport timeouts (33 s per call by
# default, several calls per request): the top buckets show them.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The service's metrics; also the I'mport client's CallObserver."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        environ = os.environ if env is None else env
        self.multiprocess_dir = environ.get(MULTIPROC_DIR_VARIABLE) or None
        registry: CollectorRegistry | None
        if self.multiprocess_dir is not None:
            # prometheus-client picks its value class when it is first imported: if that came
            # before the variable was set, values would stay in this process's memory and
            # /metrics would read empty files. Pick again (what it would have picked).
            if values.ValueClass is values.MutexValue:
                values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
            registry = None  # read back from the files, see exposition()
        else:
            registry = CollectorRegistry()
        self._registry = registry
        self.requests = Counter(
            "billing_http_requests",
            "Requests answered, by method, endpoint (route template) and HTTP status.",
            ("method", "endpoint", "status"),
            registry=registry,
        )
        self.request_seconds = Histogram(
            "billing_http_request_duration_seconds",
            "Time to answer a request, by method and endpoint (route template).",
            ("method", "endpoint"),
            buckets=_BUCKETS,
            registry=registry,
        )
        self.iamport_calls = Counter(
            "billing_iamport_calls",
            "HTTP calls to I'mport, by operation, outcome (ok, or the gateway error's class) "
            "and I'mport's HTTP status class (none: no answer).",
            ("operation", "outcome", "status"),
            registry=registry,
        )
        self.iamport_seconds = Histogram(
            "billing_iamport_call_duration_seconds",
            "Time of one HTTP call to I'mport, by operation.",
            ("operation",),
            buckets=_BUCKETS,
            registry=registry,
        )
        self.token_fetches = Counter(
            "billing_iamport_token_fetches",
            "Access tokens fetched from I'mport (POST /users/getToken), failed ones included.",
            registry=registry,
        )
        self.rate_limited = Counter(
            "billing_rate_limited",
            "Requests refused with 429 by a card-testing limit, by endpoint and limit.",
            ("endpoint", "limit"),
            registry=registry,
        )
        self.state_fallbacks = Counter(
            "billing_state_fallbacks",
            "Times the shared state store (Redis) was found down and the card-testing limits "
            "fell back to the instance's embedded store.",
            registry=registry,
        )
        self.event_deliveries = Counter(
            "billing_event_deliveries",
            "Attempts to deliver events to subscribers, by outcome (delivered, retry, failed: "
            "retries exhausted, kept for GET /events?status=failed).",
            ("outcome",),
            registry=registry,
        )
        self.readiness_checks = Gauge(
            "billing_readiness_check_ok",
            "What the background checks behind /readyz last found, by check (iamport, "
            "state_store): 1 ok, 0 not (degraded, failing or not checked yet); the lowest of "
            "the live workers.",
            ("check",),
            multiprocess_mode="livemin",
            registry=registry,
        )
        # Made now, while the worker loads the app: in multiprocess mode a value's file is
        # created with it, and one created by a check's thread while another worker reads the
        # directory for /metrics could be read half made.
        for check in ("iamport", "state_store"):
            self.readiness_checks.labels(check)
        # Labelled children by label values: .labels() validates and locks on every call.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._call_children: dict[tuple[str, str, int | None], tuple[Counter, Histogram]] = {}

    def observe_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        if method not in _METHODS:  # any token is a method to gunicorn
            method = "other"
        key = (method, endpoint, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(method, endpoint, str(status)),
                self.request_seconds.labels(method, endpoint),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_rate_limited(self, endpoint: str, limit: str) -> None:
        self.rate_limited.labels(endpoint, limit).inc()

    def observe_event_delivery(self, outcome: str) -> None:
        self.event_deliveries.labels(outcome).inc()

    def observe_readiness_check(self, check: str, ok: bool) -> None:
        self.readiness_checks.labels(check).set(1 if ok else 0)

    def observe_state_fallback(self, degraded: bool) -> None:
        if degraded:
            self.state_fallbacks.inc()

    # CallObserver (billing_service.gateway.call_context)

    def on_call(
        self, operation: str, outcome: str, http_status: int | None, seconds: float
    ) -> None:
        key = (operation, outcome, http_status)
        children = self._call_children.get(key)
        if children is None:
            status_class = "none" if http_status is None else f"{http_status // 100}xx"
            children = self._call_children[key] = (
                self.iamport_calls.labels(operation, outcome, status_class),
                self.iamport_seconds.labels(operation),
            )
        children[0].inc()
        children[1].observe(seconds)

    def on_token_fetch(self) -> None:
        self.token_fetches.inc()

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format ``accept`` asks for (Prometheus text by default)."""
        registry = self._registry
        if registry is None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        encode, content_type = choose_encoder(accept or "")
        return encode(registry), content_type
