"""The context of each call the gateway sends, which its host (no Flask here) fills in.

- ``REQUEST_ID``: the id of the request being served in this context. The host sets it per
  request; every call to I'mport sends it as ``X-Request-ID``, so one request can be followed
  from the caller through this service to I'mport.
- ``SENT_CALLS``: the operations of this context's calls that may have reached I'mport (an
  answer came, or the failure came after the request was written). The host sets a fresh set
  per request to tell a request that sent nothing that moves money, safe to retry, from one
  that may have.
- ``IDEMPOTENCY_SEED``: what the request being served is, as a secret-derived string the host
  computes (the hex HMAC, under its fingerprint key, of the caller, the caller's
  Idempotency-Key or the order's claim, its method and path: never the caller's raw key). A
  provider that takes idempotency keys (PortOne V2) derives each call's own from it and the
  call's method and path, so a resumed request sends the same keys again; unset, none is sent.
- ``CallObserver``: told about every HTTP call to I'mport and every access-token fetch (metrics).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

REQUEST_ID: ContextVar[str | None] = ContextVar("billing_request_id", default=None)
SENT_CALLS: ContextVar[set[str] | None] = ContextVar("billing_sent_calls", default=None)
IDEMPOTENCY_SEED: ContextVar[str | None] = ContextVar("billing_idempotency_seed", default=None)


class CallObserver(Protocol):
    """Receives one event per I'mport call; called on the calling thread, so keep it quick."""

    def on_call(
        self, operation: str, outcome: str, http_status: int | None, seconds: float
    ) -> None:
        """One HTTP exchange with I'mport has ended.

        ``operation``: a fixed name (``get_token``, ``issue_billing_key``, ``get_billing_key``,
        ``delete_billing_key``, ``charge``, ``find_payment``, ``get_payment``,
        ``cancel_payment``, ``schedule``, ``get_schedule``, ``list_schedules``,
        ``revoke_schedules``; PortOne V2 adds ``find_billing_keys``, ``search_payments``,
        ``find_schedules`` (its schedule searches and listings), ``move_schedule`` and
        ``check_ready``, and fetches no token); ``outcome``: ``ok``, or the class name of the
        GatewayError it raised (``ProviderError`` when I'mport refused with its envelope's
        code != 0, or PortOne with its typed error, ``GatewayTimeout``, ``GatewayUnavailable``,
        ``GatewayAuthFailed``, ``UnexpectedResponse``), or ``error`` for anything else;
        ``http_status``: the provider's status, None when no answer came; ``seconds``: how long
        it took.
        """

    def on_token_fetch(self) -> None:
        """An access token is being fetched from I'mport (``POST /users/getToken``)."""
