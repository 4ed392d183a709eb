"""The payment gateway: plain Python, the only code that speaks HTTP to a payment provider.

Shared by every provider (none of these imports a provider package):

- ``interface``: ``PaymentGateway``, the provider-neutral protocol the routes and the event
  publisher use (keys behind the caller's ``customer_uid``, orders by ``merchant_uid``);
- ``models``: the values passed in and out; ``exceptions``: the typed failures;
- ``http``: the transport every call goes through (connections, timeouts and the total deadline,
  size cap, error classification, the observer), reading answers the provider's way;
- ``outcomes``: what a payment says of a charge or a cancel (a lost answer, a refusal);
- ``call_context``: what the host attaches to each call: the request id, the record of calls
  sent (SENT_CALLS), the idempotency seed, a call observer;
- ``endpoint``: the rules of a provider's URL and the proxy it is reached through (start-up);
- ``fields``: a provider's JSON fields read into the models' types (amounts, masked numbers).

A provider package each: ``iamport_v1`` (I'mport, PortOne V1: ``IamportClient``, its envelope,
token and parsing), ``portone_v2`` (PortOne V2: ``PortOneClient``, its answers, parsing and the
``Directory`` of V2 ids the host keeps); neither imports the other. Only ``gateway`` and the
app factory that builds a client import one; the rest of the service imports this package's
names.

Imports nothing from Flask, werkzeug, flask-smorest, prometheus_client or the rest of the
service (but ``billing_service.deadline``, the calls' deadline it shares with the event
consumer): the service depends on the gateway, never the other way round.
"""

from .call_context import IDEMPOTENCY_SEED, REQUEST_ID, SENT_CALLS, CallObserver
from .exceptions import (
    BillingKeyNotFound,
    CancelExceedsBalance,
    CancelOutcomeUnknown,
    CancelPending,
    CancelRefused,
    CardDeclined,
    CardRejected,
    ChargeOutcomeUnknown,
    ChargePending,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    KeyNotRemembered,
    NothingToCancel,
    PaymentNotFound,
    ProviderError,
    RequestNotSupported,
    RequestOutstanding,
    ScheduleNotFound,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    ScheduleRefused,
    SchedulesPending,
    UnexpectedResponse,
    UnknownBillingKeyRefusal,
)
from .iamport_v1 import SCHEDULE_HORIZON, SCHEDULE_WINDOW, IamportClient
from .interface import PaymentGateway
from .models import (
    BillingKey,
    CancelResult,
    CardDetails,
    Charge,
    ChargeResult,
    MoveResult,
    Payment,
    Schedule,
    ScheduledCharge,
    ScheduleResult,
)
from .portone_v2 import Directory as PortOneDirectory
from .portone_v2 import PortOneClient

__all__ = [
    "SCHEDULE_HORIZON",
    "SCHEDULE_WINDOW",
    "IDEMPOTENCY_SEED",
    "REQUEST_ID",
    "SENT_CALLS",
    "CallObserver",
    "BillingKey",
    "BillingKeyNotFound",
    "CancelExceedsBalance",
    "CancelOutcomeUnknown",
    "CancelPending",
    "CancelRefused",
    "CancelResult",
    "CardDeclined",
    "CardDetails",
    "CardRejected",
    "Charge",
    "ChargeOutcomeUnknown",
    "ChargePending",
    "ChargeResult",
    "DuplicateMerchantUid",
    "GatewayAuthFailed",
    "GatewayError",
    "GatewayTimeout",
    "GatewayUnavailable",
    "IamportClient",
    "NothingToCancel",
    "Payment",
    "PaymentGateway",
    "PaymentNotFound",
    "PortOneClient",
    "PortOneDirectory",
    "ProviderError",
    "RequestNotSupported",
    "KeyNotRemembered",
    "RequestOutstanding",
    "MoveResult",
    "Schedule",
    "ScheduleNotFound",
    "ScheduleNotRevocable",
    "ScheduleOutcomeUnknown",
    "ScheduleRefused",
    "ScheduleResult",
    "ScheduledCharge",
    "SchedulesPending",
    "UnexpectedResponse",
    "UnknownBillingKeyRefusal",
]
