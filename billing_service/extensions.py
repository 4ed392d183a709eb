"""What an app shares, built once per app (``init_app``) and handed out to its views.

``app.extensions["billing"]`` holds one ``Shared``: the Api, the gateway client (and the bundled
sandbox it may talk to), the state store, the card-testing limits, the metrics, the readiness
checks and the payment events (the outbox and its consumer). Views and the request path get
them through ``shared()``, which reads the current app: tests build many apps in one process.
Nothing here opens a connection or starts a thread: pools open on first use and threads start
in each worker (gunicorn.conf.py), after gunicorn forks.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from .api.blueprint import Api
from .api.publisher import EventPublisher
from .config import CARD_FINGERPRINT_KEY_FILE, ConfigError, Settings
from .events import EventConsumer
from .events.outbox import EmbeddedOutbox, Outbox, SharedOutbox
from .gateway import PaymentGateway
from .observability.metrics import Metrics
from .observability.readiness import Readiness
from .providers import build_gateway
from .security.card_testing import CardTestingLimits
from .state import (
    EmbeddedStore,
    SharedStore,
    StateStore,
    StateUnavailable,
    UnsafeRedis,
    open_store,
)
from .state.counters import Counters, FixedWindowCounters, StoreCounters
from .state.keys import instance_key


class Sandbox(Protocol):
    """The bundled sandbox (I'mport's or PortOne V2's) the factory started (only the factory
    imports it)."""

    url: str

    def shutdown(self) -> None: ...


logger = logging.getLogger(__name__)


@dataclass
class Shared:
    """What one app's requests share."""

    settings: Settings
    api: Api
    gateway: PaymentGateway
    state: StateStore
    limits: CardTestingLimits
    # The keys of idempotency records' names and fingerprints: the current one first, then the
    # previous one (a rotation), whose records are still found.
    idempotency_keys: tuple[bytes, ...]
    metrics: Metrics
    readiness: Readiness
    events: EventPublisher
    sandbox: Sandbox | None = None  # the bundled sandbox, when this app started it


def shared(app: Flask | None = None) -> Shared:
    """What ``app`` (default: the current app) shares."""
    billing: Shared = (app or current_app).extensions["billing"]
    return billing


def gateway() -> PaymentGateway:
    """The current app's gateway client (the configured provider's)."""
    return shared().gateway


def state() -> StateStore:
    """The current app's state store."""
    return shared().state


def init_app(app: Flask, settings: Settings, *, sandbox: Sandbox | None = None) -> Shared:
    """Build what ``app`` shares, from ``settings``, and keep it on the app; ``sandbox``: the
    bundled sandbox the gateway talks to when settings name no provider URL."""
    # Multiprocess mode under gunicorn: the variable comes from the process, never from `env`.
    metrics = Metrics(os.environ)
    store, counters = _state(settings, metrics)
    client = build_gateway(settings, store, metrics, sandbox.url if sandbox else None)
    fingerprint_key = settings.card_fingerprint_key or _instance_key(settings)
    events = _events(settings, metrics, client)
    previous = settings.card_fingerprint_key_previous
    billing = Shared(
        settings=settings,
        api=Api(app),
        gateway=client,
        state=store,
        limits=CardTestingLimits(counters, settings.limits, fingerprint_key=fingerprint_key),
        idempotency_keys=(fingerprint_key,) if previous is None else (fingerprint_key, previous),
        metrics=metrics,
        # Its checks' threads start after the fork, like the consumer (gunicorn.conf.py), or on
        # the first /readyz of a process.
        readiness=Readiness(client, store, events.consumer, metrics),
        events=events,
        sandbox=sandbox,
    )
    app.extensions["billing"] = billing
    return billing


def _state(settings: Settings, metrics: Metrics) -> tuple[StateStore, Counters]:
    """The state store, and where the card-testing limits count."""
    fallback = None
    try:
        store = open_store(settings.state_url)
        if isinstance(store, SharedStore):
            _verify_redis(store)
            # Replicas share Redis; with Redis down, each instance counts in its embedded store.
            fallback = EmbeddedStore(os.path.join(settings.data_dir, "state.db"))
    except StateUnavailable as exc:
        raise ConfigError(f"{exc} Check BILLING_DATA_DIR and BILLING_STATE_URL.") from exc
    if settings.counters_in_memory:
        return store, FixedWindowCounters()
    return store, StoreCounters(store, fallback, metrics.observe_state_fallback)


def _verify_redis(store: SharedStore) -> None:
    """Refuse a Redis that may evict keys; warn of one that keeps nothing across a restart."""
    try:
        warning = store.verify()
    except UnsafeRedis as exc:
        raise ConfigError(str(exc)) from exc
    except StateUnavailable:
        # Checked on first contact: until then, nothing that needs the store runs (503).
        logger.warning(
            "The Redis of BILLING_STATE_URL cannot be reached: its eviction policy will be "
            "checked on first contact; charges, cancels and schedules answer 503 until then."
        )
        return
    if warning:
        logger.warning(warning)


def _events(settings: Settings, metrics: Metrics, client: PaymentGateway) -> EventPublisher:
    """The outbox in the state store, and its consumer (started by gunicorn.conf.py in each
    worker, after the fork: a thread must not cross one)."""
    retention = settings.event_retention
    if settings.state_url.startswith("sqlite:///"):
        path = settings.state_url.removeprefix("sqlite:///")
        outbox: Outbox = EmbeddedOutbox(path, retention=retention)
    else:
        outbox = SharedOutbox(settings.state_url, retention=retention)
    events = EventPublisher(
        outbox,
        settings.event_urls,
        client,
        reconcile_after=settings.schedule_reconcile_after,
        recheck_after=settings.pending_recheck_seconds,
        request_lasts=settings.longest_request,
    )
    events.consumer = EventConsumer(
        outbox,
        secret=settings.event_secret,
        delays=settings.event_retry_delays,
        lease_seconds=settings.event_lease_seconds,
        on_outcome=metrics.observe_event_delivery,
        handlers=events.handlers,
    )
    return events


def _instance_key(settings: Settings) -> bytes:
    """Sandbox mode's key, kept in the data directory (Settings require one from the
    environment with real credentials)."""
    try:
        return instance_key(settings.data_dir, CARD_FINGERPRINT_KEY_FILE)
    except StateUnavailable as exc:
        raise ConfigError(
            f"{exc} Set BILLING_CARD_FINGERPRINT_KEY or fix BILLING_DATA_DIR."
        ) from exc
