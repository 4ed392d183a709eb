"""Card-testing limits (OWASP API4/API6), with flask-limiter.

Stolen-card testers use billing-key endpoints to find live cards, so issuance is limited per
caller, per ``customer_uid`` and per card, and refusals (402: refused issuances, declined
charges) count again against a per-caller budget that also stops charges. A card is keyed by an
HMAC of its number, never the number itself. Only attempts that reach I'mport are counted: a
request refused for its own faults (400/413/415/422) tells a card tester nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g
from flask_limiter import Limiter, RequestLimit
from werkzeug.wrappers import Response

from ..api.bodies import body_field
from ..api.fields import card_digits
from ..config import Settings
from ..state.counters import FixedWindowCounters, StoreCounters

logger = logging.getLogger(__name__)


def init_app(
    app: Flask,
    settings: Settings,
    counters: dict[str, Any],
    *,
    issue_endpoint: str,
    charge_endpoint: str,
) -> None:
    """Limit the issuance and charge endpoints (registered already) as ``settings`` say,
    counting where ``counters`` (storage options of state.counters.StoreCounters) say."""
    app.after_request(_retry_after)
    in_memory = settings.counters_in_memory
    scheme = (FixedWindowCounters if in_memory else StoreCounters).STORAGE_SCHEME[0]
    limiter = Limiter(
        key_func=_caller,
        app=app,
        storage_uri=f"{scheme}://",
        storage_options={} if in_memory else counters,
        # Never fail open: the store counts for the whole instance (its shared store falls back
        # to the embedded one by itself), and a store that cannot be read refuses (503).
        in_memory_fallback_enabled=False,
        swallow_errors=False,
        # X-RateLimit-* on every answer would cost a storage round trip per limit per request;
        # Retry-After, the one header a 429 needs, is set below.
        headers_enabled=False,
        key_prefix="billing",
    )
    limits = settings.limits
    refusals = limiter.shared_limit(
        limits["BILLING_LIMIT_REFUSALS_PER_CALLER"],
        scope="refusals",
        deduct_when=lambda response: response.status_code == 402,
        on_breach=_breached("refusals_per_caller"),
    )
    per_caller = limiter.limit(
        limits["BILLING_LIMIT_ISSUE_PER_CALLER"],
        scope="issue-caller",
        deduct_when=_reached_iamport,
        on_breach=_breached("issue_per_caller"),
    )
    per_customer = limiter.limit(
        limits["BILLING_LIMIT_ISSUE_PER_CUSTOMER"],
        key_func=lambda: body_field("customer_uid") or "",
        exempt_when=lambda: not body_field("customer_uid"),
        deduct_when=_reached_iamport,
        scope="issue-customer",
        on_breach=_breached("issue_per_customer"),
    )
    per_card = limiter.limit(
        limits["BILLING_LIMIT_ISSUE_PER_CARD"],
        key_func=lambda: _card_fingerprint() or "",
        exempt_when=lambda: _card_fingerprint() is None,
        deduct_when=_reached_iamport,
        scope="issue-card",
        on_breach=_breached("issue_per_card"),
    )
    _wrap(app, issue_endpoint, refusals, per_caller, per_customer, per_card)
    _wrap(app, charge_endpoint, refusals)


def _wrap(app: Flask, endpoint: str, *decorators: Callable[[Any], Any]) -> None:
    view = app.view_functions[endpoint]
    for decorate in decorators:
        view = decorate(view)
    app.view_functions[endpoint] = view


def _retry_after(response: Response) -> Response:
    if response.status_code == 429 and "retry_after" in g:
        response.headers["Retry-After"] = str(g.retry_after)
    return response


def _breached(name: str) -> Callable[[RequestLimit], None]:
    """Note which limit refused the request (the ``limit`` label of the 429 metric) and when it
    lets requests through again (whole seconds, at least 1)."""

    def note(request_limit: RequestLimit) -> None:
        g.rate_limit = name
        reset_at: float
        try:
            reset_at = request_limit.reset_at
        except Exception:  # the storage (Redis) failed just now: the 429 stands all the same
            logger.warning("Could not read when rate limit %s resets", name, exc_info=True)
            reset_at = time.time() + request_limit.limit.get_expiry()
        g.retry_after = max(1, math.ceil(reset_at - time.time()))

    return note


def _reached_iamport(response: Response) -> bool:
    return response.status_code not in (400, 413, 415, 422, 429)


def _caller() -> str:
    return str(g.get("caller", "anonymous"))


def _card_fingerprint() -> str | None:
    if "card_fingerprint" not in g:
        digits = card_digits(body_field("card_number") or "")
        g.card_fingerprint = (
            hmac.new(
                current_app.config["BILLING_CARD_FINGERPRINT_KEY"], digits.encode(), hashlib.sha256
            ).hexdigest()
            if re.fullmatch("[0-9]{12,19}", digits)
            else None
        )
    fingerprint: str | None = g.card_fingerprint
    return fingerprint
