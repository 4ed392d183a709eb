"""The I'mport gateway: plain Python, the only code that speaks HTTP to I'mport.

- ``transport``: the one choke point every call goes through (connections, timeouts and the
  total deadline, size cap, status and envelope checks, error classification, the observer);
- ``client``: the I'mport operations, each a short method over the transport;
- ``outcomes``: what a payment says of a charge or a cancel (a lost answer, a refusal);
- ``token``: the access-token cache; ``models``: the values passed in and out;
- ``parsing``: I'mport's answers read into models; ``exceptions``: the typed failures;
- ``hooks``: what the host may plug in (the request id, a call observer);
- ``endpoint``: the rules of I'mport's URL and the proxy it is reached through (start-up).

Imports nothing from Flask, werkzeug, flask-smorest, prometheus_client or the rest of the
service (but ``billing_service.deadline``, the calls' deadline it shares with the event
consumer): the service depends on the gateway, never the other way round.
"""

from .client import SCHEDULE_HORIZON, SCHEDULE_WINDOW, IamportClient
from .exceptions import (
    BillingKeyNotFound,
    CancelExceedsBalance,
    CancelOutcomeUnknown,
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
    NothingToCancel,
    PaymentNotFound,
    ProviderError,
    ScheduleNotFound,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    ScheduleRefused,
    SchedulesPending,
    UnexpectedResponse,
    UnknownBillingKeyRefusal,
)
from .hooks import REQUEST_ID, SENT_CALLS, CallObserver
from .models import (
    BillingKey,
    CancelResult,
    CardDetails,
    Charge,
    ChargeResult,
    Payment,
    Schedule,
    ScheduledCharge,
    ScheduleResult,
)

__all__ = [
    "SCHEDULE_HORIZON",
    "SCHEDULE_WINDOW",
    "REQUEST_ID",
    "SENT_CALLS",
    "CallObserver",
    "BillingKey",
    "BillingKeyNotFound",
    "CancelExceedsBalance",
    "CancelOutcomeUnknown",
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
    "PaymentNotFound",
    "ProviderError",
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
