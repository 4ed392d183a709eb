"""One-shot faults on any I'mport route, queued by `POST /__sandbox__/faults`.

The magic cards and merchant_uid prefixes fault every time and only on two routes; these
faults hit the next calls of any route (a cancel, a lookup, getToken) and then stop, so a test
can check that a client gets through a lost answer and recovers on the next call.
"""

from __future__ import annotations

import dataclasses

from .wire import MSG_SERVER_ERROR, TRICKLE_INTERVAL, Reply, envelope

DROP = "drop"  # processed normally (state changes happen), then TCP reset
LOST = "lost"  # TCP reset before anything is processed
HANG = "hang"  # processed normally, answered after hang_seconds
HTTP_500 = "http_500"  # HTTP 500 envelope before anything is processed
HTTP_401 = "http_401"  # HTTP 401 envelope before anything is processed: credentials rotated
TRICKLE_HEADERS = "trickle_headers"  # processed normally, status line and headers byte by byte
STALL = "stall"  # held for hang_seconds before it is processed (I'mport still working on it)
PG_REFUSAL = "pg_refusal"  # HTTP 200, code -1, the PG's refusal, before anything is processed

NAMES = (DROP, LOST, HANG, HTTP_500, HTTP_401, TRICKLE_HEADERS, STALL, PG_REFUSAL)
# These strike instead of processing the call; the others after it (STALL: before and after).
BEFORE = frozenset({LOST, HTTP_500, HTTP_401, PG_REFUSAL})

SERVER_ERROR_REPLY = envelope(500, -1, MSG_SERVER_ERROR)
UNAUTHORIZED_REPLY = envelope(401, -1, "Unauthorized")
# Sandbox wording, modelled on the PGs' refusals of a cancel they do not allow.
MSG_PG_REFUSAL = "[sandbox] PG사 거절: 부분취소가 불가능한 거래입니다."
PG_REFUSAL_REPLY = envelope(200, -1, MSG_PG_REFUSAL)


def before(fault: str) -> Reply | None:
    """The answer of a fault in BEFORE, given instead of processing (None: reset)."""
    if fault == HTTP_500:
        return SERVER_ERROR_REPLY
    if fault == PG_REFUSAL:
        return PG_REFUSAL_REPLY
    if fault == HTTP_401:
        return UNAUTHORIZED_REPLY
    return None  # LOST: the request never reached I'mport, nothing changes


def after(fault: str | None, reply: Reply | None, hang_seconds: float) -> Reply | None:
    """The answer of a processed call, changed by a fault that strikes after processing.

    A call that resets anyway (a magic prefix) stays a reset: there is no answer to slow down.
    """
    if reply is None:
        return None
    if fault == DROP:
        return None  # whatever happened is stored; the caller never hears of it
    if fault == HANG:
        return dataclasses.replace(reply, delay=hang_seconds)
    if fault == TRICKLE_HEADERS:
        return dataclasses.replace(reply, head_trickle=TRICKLE_INTERVAL)
    return reply
