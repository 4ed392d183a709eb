"""The application factory: configuration, the I'mport client, the API and its blueprints."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import resources
from .api import guards, headers, idempotency, locks
from .api.blueprint import Api, swagger_ui_assets
from .api.errors import register_error_handlers
from .api.fields import IdConverter, id_parameter_schema
from .api.publisher import EventPublisher
from .config import CARD_FINGERPRINT_KEY_FILE, ConfigError, Settings
from .events import EventConsumer
from .events.outbox import EmbeddedOutbox, Outbox, SharedOutbox
from .gateway import IamportClient, PaymentGateway
from .observability import instrumentation, logs, request_ids
from .observability.metrics import Metrics
from .observability.readiness import Readiness
from .security import audit, card_testing
from .state import (
    EmbeddedStore,
    SharedStore,
    StateStore,
    StateUnavailable,
    UnsafeRedis,
    open_store,
)
from .state.keys import instance_key

logger = logging.getLogger(__name__)

# The service's version: pyproject.toml's, the image's label and tag (Dockerfile,
# deploy/kubernetes/deployment.yaml) say the same (tests/deploy/test_deployment_files.py).
API_VERSION = "1.0.0"

API_DESCRIPTION = """\
Issues I'mport (PortOne V1) billing keys from card details sent by other internal services, and
runs each key's lifecycle: look it up, charge it (safely retryable with the same `merchant_uid`),
look up and cancel its payments, delete it.

Callers authenticate with `Authorization: Bearer <key>` (keys from `BILLING_API_KEYS`).
Card data is sent in the request body only; it is never stored, logged or echoed, and responses
carry only the masked card number. Every error has the same JSON shape with a stable `code`.

An instance running against the I'mport sandbox (`BILLING_SANDBOX=true`) marks every answer with
the header `X-Billing-Sandbox: true`: nothing it answers is a real payment.

**The retry rule.** The money-moving POSTs (issuance, charge, cancel, schedule) take an
`Idempotency-Key`. With one, every 5xx answer, a 409 `request_in_progress` and a 429 may be
retried with the same key and the same body within `BILLING_IDEMPOTENCY_TTL`, and such a retry
never moves money twice; every other 4xx is final. Every 5xx answer of these POSTs that had a
key, or that sent nothing that moves money to I'mport, carries `"retryable": true`; a cancel
without a key that may have reached I'mport never does (retried, it would refund again). An
order is its own lock: while a charge of a `merchant_uid` or a cancel of an `imp_uid` runs,
another one, from any caller, is 409 `request_in_progress` and is not sent. With the state store
unusable, charges, cancels and schedules are 503 `state_unavailable` before anything is sent.
"""


CALLER_KEY_DESCRIPTION = """\
A caller secret from `BILLING_API_KEYS` (`caller:secret[:scopes]`, or `caller:sha256=<hex>[:scopes]`
so that only the secret's SHA-256 sits in the environment). Scopes, joined with `+`: `issue`
(issue billing keys), `read` (look up keys, payments and schedules), `charge`, `cancel`,
`delete`, `schedule`, `events` (list and re-send the events to your services: operations data,
not given with `read`); none listed means all. A key without an operation's scope gets 403
`forbidden`. `caller:secret:scopes:prefix=shop_` limits the caller to the customers whose
`customer_uid` starts with `shop_`, their events included.
"""


def create_app(env: Mapping[str, str] | None = None) -> Flask:
    """Build the service from ``env`` (default: the process environment)."""
    settings = Settings.from_env(os.environ if env is None else env)
    app = Flask(__name__)
    # Plain UTF-8: I'mport's Korean messages stay readable in answers and logs.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.update(
        BILLING_CALLERS=settings.callers,
        BILLING_SETTINGS=settings,
        API_TITLE="Billing-key service",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/static/",
        # validatorUrl: Swagger UI would otherwise send the document to an online validator.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "security": [{"callerKey": []}],
            "components": {
                "securitySchemes": {
                    "callerKey": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": CALLER_KEY_DESCRIPTION,
                    }
                }
            },
        },
    )
    # Multiprocess mode under gunicorn: the variable comes from the process, never from `env`.
    metrics = Metrics(os.environ)
    app.extensions["iamport"] = _iamport_client(app, settings, metrics)
    if not settings.callers:
        logger.warning("BILLING_API_KEYS is not set: callers are NOT authenticated (sandbox only).")
    for warning in settings.warnings:
        logger.warning(warning)
    store, counters = _state(settings, metrics)
    app.extensions["state"] = store
    fingerprint_key = settings.card_fingerprint_key or _instance_key(settings)
    app.config["BILLING_CARD_FINGERPRINT_KEY"] = fingerprint_key
    if settings.webhook_token is not None:
        logs.redact(settings.webhook_token, "<token>")
    app.extensions["events"] = _events(app, settings, metrics)
    # Its checks' threads start after the fork, like the consumer (gunicorn.conf.py), or on the
    # first /readyz of a process.
    app.extensions["readiness"] = Readiness(
        app.extensions["iamport"], store, app.extensions["events"].consumer, metrics
    )

    instrumentation.init_app(app, metrics)  # first: it times and logs the whole request
    request_ids.init_app(app)
    headers.init_app(app, sandbox=settings.sandbox)
    guards.init_app(app)
    app.url_map.converters["id"] = IdConverter
    api = Api(app)
    api.register_converter(IdConverter, id_parameter_schema)
    resources.register_blueprints(api)
    card_testing.init_app(
        app,
        settings,
        counters,
        issue_endpoint=resources.ISSUE_ENDPOINT,
        charge_endpoint=resources.CHARGE_ENDPOINT,
    )
    # After the limits: a replayed answer runs no limit (it reaches no I'mport).
    idempotency.init_app(
        app,
        store,
        key=fingerprint_key,
        previous_key=settings.card_fingerprint_key_previous,
        ttl=settings.idempotency_ttl,
        lease=settings.longest_request,
        endpoints=resources.MONEY_ENDPOINTS,
    )
    locks.init_app(app, lease=settings.longest_request)
    audit.init_app(app)
    app.register_blueprint(swagger_ui_assets)
    register_error_handlers(app)
    return app


def _state(settings: Settings, metrics: Metrics) -> tuple[StateStore, dict[str, Any]]:
    """The state store, and where the card-testing limits count (StoreCounters' options)."""
    try:
        store = open_store(settings.state_url)
        if not isinstance(store, SharedStore):
            return store, {"primary": store}
        _verify_redis(store)
        # Replicas share Redis; with Redis down, each instance counts in its embedded store.
        embedded = EmbeddedStore(os.path.join(settings.data_dir, "state.db"))
    except StateUnavailable as exc:
        raise ConfigError(f"{exc} Check BILLING_DATA_DIR and BILLING_STATE_URL.") from exc
    options = {
        "primary": store,
        "fallback": embedded,
        "on_fallback": metrics.observe_state_fallback,
    }
    return store, options


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


def _events(app: Flask, settings: Settings, metrics: Metrics) -> EventPublisher:
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
        app.extensions["iamport"],
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


def _iamport_client(app: Flask, settings: Settings, metrics: Metrics) -> PaymentGateway:
    url = settings.iamport_api_url
    if url is None:  # sandbox mode, and no sandbox given: start the bundled one in-process
        from .sandbox import start_sandbox

        sandbox = start_sandbox(
            api_key=settings.iamport_api_key, api_secret=settings.iamport_api_secret
        )
        app.extensions["sandbox"] = sandbox
        url = sandbox.url
    if settings.sandbox:
        logger.warning(
            "SANDBOX MODE (BILLING_SANDBOX=true): using the I'mport sandbox at %s. "
            "No real billing key will be issued; every answer carries X-Billing-Sandbox: true.",
            url,
        )
    return IamportClient(
        url,
        settings.iamport_api_key,
        settings.iamport_api_secret,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        proxy_url=settings.iamport_proxy_url,
        ca_bundle=settings.iamport_ca_bundle,
        observer=metrics,
        channel_key=settings.channel_key,
    )
