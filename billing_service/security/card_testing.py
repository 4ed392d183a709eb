"""Card-testing limits (OWASP API4/API6), declared on the views that spend them.

Stolen-card testers use billing-key endpoints to find live cards, so issuance is limited per
caller, per ``customer_uid`` and per card, and refusals (402: refused issuances, declined
charges) count again against a per-caller budget that also stops charges. A card is keyed by an
HMAC of its number, never the number itself. Only attempts that reach I'mport are counted: a
request refused for its own faults (400/413/415/422) tells a card tester nothing.

``@limited(*limits)`` goes under the body's parsing (the values come from the parsed
arguments, the body is not read again; a body refused by its schema counts nothing) and checks
the view's limits and the caller's refusal budget, and counts the limits, in one atomic
operation of the state store (``hit_all``): however many attempts run at once, at most the limit
reaches I'mport. A store that cannot count refuses the request (503). An attempt that then turns
out to be refused for its own faults is taken back; the refusal budget, only checked before the
view, is counted when the answer is a 402.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from flask import after_this_request, g
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from .. import extensions
from ..state.counters import Counters
from ..state.store import Hit

F = TypeVar("F", bound=Callable[..., Any])

# In every counter's key (the keys flask-limiter gave them: counts carry over an upgrade).
_NAMESPACE = "billing"
REFUSALS = "refusals_per_caller"
# Statuses of requests refused for their own faults, before anything was sent to I'mport.
_NOT_SENT = frozenset({400, 413, 415, 422, 429})
_REFUSED = 402


class Limit(NamedTuple):
    name: str  # the ``limit`` label of the 429 metric; BILLING_LIMIT_<NAME> sets it
    scope: str  # in its counters' keys
    # What it counts attempts of, from the parsed arguments (and the app's limits).
    per: Callable[[Any, CardTestingLimits], str]


# Stands for the two identifiers in a window's key, cut out once (see _Window.of).
_SLOT = "\0"


class _Window(NamedTuple):
    limit: int
    expiry: int  # seconds
    # The key the limits library gives (LIMITER/billing/<first>/<second>/<the window>), around
    # the identifiers: built once, not per request.
    prefix: str
    suffix: str

    @classmethod
    def of(cls, item: RateLimitItem) -> _Window:
        prefix, suffix = item.key_for(_NAMESPACE, _SLOT, _SLOT).split(f"{_SLOT}/{_SLOT}")
        return cls(item.amount, item.get_expiry(), prefix, suffix)

    def hit(self, first: str, second: str, *, counts: bool = True) -> Hit:
        key = f"{self.prefix}{first}/{second}{self.suffix}"
        return Hit(key, self.limit, self.expiry, counts)


class CardTestingLimits:
    """One app's limits: the windows ``BILLING_LIMIT_*`` set, where they count, and the key of
    the cards' fingerprints."""

    def __init__(
        self, counters: Counters, limits: Mapping[str, str], *, fingerprint_key: bytes
    ) -> None:
        self.counters = counters
        self.fingerprint_key = fingerprint_key
        self.windows = {
            name.removeprefix("BILLING_LIMIT_").lower(): [
                _Window.of(item) for item in parse_many(text)
            ]
            for name, text in limits.items()
        }


def _caller(*_: Any) -> str:
    return str(g.get("caller", "anonymous"))


def _customer(args: Mapping[str, Any], _: CardTestingLimits) -> str:
    customer_uid: str = args["customer_uid"]
    return customer_uid


def _card_fingerprint(args: Mapping[str, Any], limits: CardTestingLimits) -> str:
    """An HMAC of the card's number (digits only, validated by the schema)."""
    number: str = args["card"].number
    return hmac.new(limits.fingerprint_key, number.encode(), hashlib.sha256).hexdigest()


ISSUANCE = (
    Limit("issue_per_caller", "issue-caller", _caller),
    Limit("issue_per_customer", "issue-customer", _customer),
    Limit("issue_per_card", "issue-card", _card_fingerprint),
)


def limited(*limits: Limit) -> Callable[[F], F]:
    """Spend ``limits`` and check the caller's refusal budget before the view method, which
    takes its parsed arguments first (``blp.body`` above)."""

    def decorate(view: F) -> F:
        def run(self: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
            app_limits = extensions.shared().limits
            # hit_all counts all or none: a caller out of its refusal budget spends no limit.
            names = {
                window.hit(_caller(), "refusals", counts=False): REFUSALS
                for window in app_limits.windows[REFUSALS]
            }
            for limit in limits:
                value = limit.per(args, app_limits)
                for window in app_limits.windows[limit.name]:
                    names[window.hit(limit.scope, value)] = limit.name
            refused = app_limits.counters.hit_all(list(names))
            if refused is not None:
                g.rate_limit = names[refused.hit]
                raise TooManyRequests(retry_after=max(1, math.ceil(refused.retry_after)))
            g.limit_hits = app_limits.counters, list(names)
            after_this_request(_settle)
            return view(self, args, *rest, **kwargs)

        # Its OpenAPI doc (flask-smorest's _apidoc) with it: copied once, nothing per request.
        return functools.update_wrapper(run, view)  # type: ignore[return-value]

    return decorate


def _settle(response: Response) -> Response:
    """Count a refusal (402) in the refusal budget; take back the attempts of a request refused
    for its own faults."""
    counters: Counters
    hits: list[Hit]
    counters, hits = g.limit_hits
    if response.status_code == _REFUSED:
        for hit in hits:
            if not hit.counts:
                counters.incr(hit.key, hit.expiry)
    elif response.status_code in _NOT_SENT:
        counters.refund([hit.key for hit in hits if hit.counts])
    return response
