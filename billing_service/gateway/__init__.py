"""The I'mport gateway: plain Python, no Flask."""

from .client import IamportClient
from .exceptions import (
    CardRejected,
    GatewayAuthFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    ProviderError,
    UnexpectedResponse,
)
from .models import BillingKey, CardDetails

__all__ = [
    "BillingKey",
    "CardDetails",
    "CardRejected",
    "GatewayAuthFailed",
    "GatewayError",
    "GatewayTimeout",
    "GatewayUnavailable",
    "IamportClient",
    "ProviderError",
    "UnexpectedResponse",
]
