"""How long a request can last: the longest chains of I'mport calls it can make.

The longest chain sizes the idempotency lease, the order locks' lease and gunicorn's
``graceful_timeout`` (and, above it, the container's stop grace period).
"""

from __future__ import annotations

import math

DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 30.0
# The longest chains of I'mport calls one request can make, with at most one token refusal
# (only an I'mport refusing freshly issued tokens again and again makes more). The longest
# sizes the idempotency lease, the order locks' lease and gunicorn's graceful_timeout (and,
# above it, the container's stop grace period): Settings.longest_request.
LONGEST_CHAINS = {
    "pending charge": (
        "token",
        "order lookup -> 401",
        "token",
        "order lookup -> failed",
        "charge -> refused",
        "order lookup",
        "key lookup",
    ),
    "refused charge": (
        "token",
        "charge -> 401",
        "token",
        "charge -> refused",
        "order lookup",
        "key lookup",
    ),
    "lost charge": ("token", "charge -> 401", "token", "charge -> no answer", "order lookup"),
    "lost cancel": (
        "token",
        "lookup -> 401",
        "token",
        "lookup",
        "cancel -> no answer",
        "lookup",
    ),
}
CALLS_PER_REQUEST = max(len(chain) for chain in LONGEST_CHAINS.values())


def longest_request(
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, read_timeout: float = DEFAULT_READ_TIMEOUT
) -> int:
    """Seconds the longest request can last: the longest chain of LONGEST_CHAINS (7 I'mport
    calls: a charge left pending), each call within its deadline (connect + read timeout), and
    5 s to spare."""
    return math.ceil(CALLS_PER_REQUEST * (connect_timeout + read_timeout)) + 5
