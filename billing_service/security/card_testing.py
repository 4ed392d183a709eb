"""Card-testing limits (OWASP API4/API6).

Stolen-card testers use billing-key endpoints to find live cards, so issuance is limited per
caller, per ``customer_uid`` and per card, and refusals (402: refused issuances, declined
charges) count again against a per-caller budget that also stops charges. A card is keyed by an
HMAC of its number, never the number itself. Only attempts that reach I'mport are counted: a
request refused for its own faults (400/413/415/422) tells a card tester nothing.

The issuance limits are checked and counted together before the request, in one atomic
operation of the state store (``hit_all``): however many attempts run at once, at most the
limit reaches I'mport. An attempt that then turns out to be refused for its own faults is taken
back. The refusal budget is counted on the outcome (flask-limiter's ``deduct_when``): charges
spend it only when declined.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple, cast

from flask import Flask, current_app, g
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RequestLimit
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import HTTPException, TooManyRequests
from werkzeug.wrappers import Response

from ..api.bodies import body_field
from ..api.fields import card_digits
from ..config import Settings
from ..state.counters import FixedWindowCounters, StoreCounters
from ..state.store import Hit

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
    issuance = _issuance_limits(
        cast(StoreCounters | FixedWindowCounters, limiter.storage),
        [
            IssuanceLimit("issue_per_caller", "issue-caller", _caller),
            IssuanceLimit(
                "issue_per_customer", "issue-customer", lambda: body_field("customer_uid")
            ),
            IssuanceLimit("issue_per_card", "issue-card", _card_fingerprint),
        ],
        limits,
    )
    # The refusal budget outermost: a caller out of it spends no issuance limit.
    _wrap(app, issue_endpoint, issuance, refusals)
    _wrap(app, charge_endpoint, refusals)


class IssuanceLimit(NamedTuple):
    name: str  # the ``limit`` label of the 429 metric; BILLING_LIMIT_<NAME> sets it
    scope: str  # in its counters' keys
    per: Callable[[], str | None]  # what it counts attempts of (None: the request has none)


# Statuses of requests refused for their own faults, before anything was sent to I'mport.
_NOT_SENT = frozenset({400, 413, 415, 422, 429})


def _issuance_limits(
    counters: StoreCounters | FixedWindowCounters,
    limits: list[IssuanceLimit],
    settings: dict[str, str],
) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """A view decorator that checks and counts every limit in one operation of ``counters``
    before the view, and takes the attempt back if the view refuses the request for its own
    faults."""
    windows = [
        (limit, item)
        for limit in limits
        for item in parse_many(settings[f"BILLING_LIMIT_{limit.name.upper()}"])
    ]

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def limited(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            names = {
                _hit(item, limit.scope, value): limit.name
                for limit, item in windows
                if (value := limit.per())
            }
            refused = counters.hit_all(list(names))
            if refused is not None:
                g.rate_limit = names[refused.hit]
                g.retry_after = max(1, math.ceil(refused.retry_after))
                raise TooManyRequests()
            keys = [hit.key for hit in names]
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except HTTPException as exc:
                if exc.code in _NOT_SENT:
                    counters.refund(keys)
                raise
            if response.status_code in _NOT_SENT:
                counters.refund(keys)
            return response

        return limited

    return decorate


def _wrap(app: Flask, endpoint: str, *decorators: Callable[[Any], Any]) -> None:
    view = app.view_functions[endpoint]
    for decorate in decorators:
        view = decorate(view)
    app.view_functions[endpoint] = view


def _hit(item: RateLimitItem, scope: str, value: str) -> Hit:
    return Hit(item.key_for("billing", scope, value), item.amount, item.get_expiry())


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


def _caller() -> str:
    return str(g.get("caller", "anonymous"))


def _card_fingerprint() -> str | None:
    """An HMAC of the body's card number (None without a well-formed one)."""
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
