"""The I'mport gateway: plain Python, no Flask."""

from .client import IamportClient
from .exceptions import (
    BillingKeyNotFound,
    CancelExceedsBalance,
    CardDeclined,
    CardRejected,
    ChargeOutcomeUnknown,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    NothingToCancel,
    PaymentNotFound,
    ProviderError,
    UnexpectedResponse,
)
from .hooks import REQUEST_ID, CallObserver
from .models import BillingKey, CardDetails, Charge, ChargeResult, Payment

__all__ = [
    "REQUEST_ID",
    "CallObserver",
    "BillingKey",
    "BillingKeyNotFound",
    "CancelExceedsBalance",
    "CardDeclined",
    "CardDetails",
    "CardRejected",
    "Charge",
    "ChargeOutcomeUnknown",
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
    "UnexpectedResponse",
]
