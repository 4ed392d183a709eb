"""The application factory: configuration, what the app shares (extensions), hooks, blueprints."""

from __future__ import annotations

import inspect
import logging
import os
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from . import extensions, resources
from .api import guards, headers
from .api.blueprint import swagger_ui_assets
from .api.errors import register_error_handlers
from .api.fields import IdConverter, id_parameter_schema
from .config import Settings
from .observability import instrumentation, logs, request_ids
from .security import audit

logger = logging.getLogger(__name__)

# The service's version: pyproject.toml's, the image's label and tag (Dockerfile,
# deploy/kubernetes/deployment.yaml) say the same (tests/deploy/test_deployment_files.py).
API_VERSION = "1.0.0"

API_DESCRIPTION = """\
Issues PortOne billing keys (I'mport, PortOne V1, or PortOne V2: `BILLING_PROVIDER`) from card
details sent by other internal services, and runs each key's lifecycle: look it up, charge it
(safely retryable with the same `merchant_uid`), look up and cancel its payments, delete it.
Callers see one contract whichever PortOne API answers.

Callers authenticate with `Authorization: Bearer <key>` (keys from `BILLING_API_KEYS`).
Card data is sent in the request body only; it is never stored, logged or echoed, and responses
carry only the masked card number. Every error has the same JSON shape with a stable `code`.

An instance running against a PortOne sandbox (`BILLING_SANDBOX=true`) marks every answer with
the header `X-Billing-Sandbox: true`: nothing it answers is a real payment.

**The retry rule.** The money-moving POSTs (issuance, charge, cancel, schedule) take an
`Idempotency-Key`. With one, every 5xx answer, a 409 `request_in_progress` and a 429 may be
retried with the same key and the same body within `BILLING_IDEMPOTENCY_TTL`, and such a retry
never moves money twice; every other 4xx is final. Every 5xx answer of these POSTs that had a
key, or that sent nothing that moves money to PortOne, carries `"retryable": true`; a cancel
without a key that may have reached PortOne never does (retried, it would refund again). An
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


class _Flask(Flask):
    """Flask, asking once per view or hook (not on every call) whether it is a coroutine.

    Flask runs every view and hook through ``ensure_sync``, whose ``inspect`` check walked a few
    frames each time: about fifteen times per issuance.
    """

    _coroutines: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        target = getattr(func, "__func__", func)  # a MethodView's method is bound anew each time
        try:
            coroutine = self._coroutines.get(target)
            if coroutine is None:
                coroutine = self._coroutines[target] = inspect.iscoroutinefunction(target)
        except TypeError:  # not weakly referable
            return super().ensure_sync(func)
        return super().ensure_sync(func) if coroutine else func


def create_app(env: Mapping[str, str] | None = None) -> Flask:
    """Build the service from ``env`` (default: the process environment)."""
    settings = Settings.from_env(os.environ if env is None else env)
    app = _Flask(__name__)
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
    billing = extensions.init_app(app, settings, sandbox=_bundled_sandbox(settings))
    if not settings.callers:
        logger.warning("BILLING_API_KEYS is not set: callers are NOT authenticated (sandbox only).")
    for warning in settings.warnings:
        logger.warning(warning)
    if settings.webhook_token is not None:
        logs.redact(settings.webhook_token, "<token>")

    instrumentation.init_app(app, billing.metrics)  # first: it times and logs the whole request
    request_ids.init_app(app)
    headers.init_app(app, sandbox=settings.sandbox)
    guards.init_app(app)
    app.url_map.converters["id"] = IdConverter
    billing.api.register_converter(IdConverter, id_parameter_schema)
    resources.register_blueprints(billing.api)
    audit.init_app(app)
    app.register_blueprint(swagger_ui_assets)
    register_error_handlers(app)
    return app


def _bundled_sandbox(settings: Settings) -> extensions.Sandbox | None:
    """Sandbox mode with no sandbox named: the bundled one of the provider, in-process."""
    portone = settings.portone
    if portone is not None:
        if portone.api_url is not None:
            return None
        from .sandbox.portone_v2 import start_sandbox as start_portone_sandbox

        # It signs its webhooks (to noticeUrls: this app's URL is unknown here) with our secret.
        return start_portone_sandbox(
            api_secret=portone.api_secret,
            store_id=portone.store_id,
            webhook_secret=",".join(portone.webhook_secrets) or None,
        )
    if settings.iamport_api_url is not None:
        return None
    from .sandbox import start_sandbox

    return start_sandbox(api_key=settings.iamport_api_key, api_secret=settings.iamport_api_secret)
