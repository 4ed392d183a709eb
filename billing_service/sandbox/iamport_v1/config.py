"""The run-time switches of the I'mport V1 fake, changed through `POST /__sandbox__/config`."""

from __future__ import annotations

import dataclasses

# Webhook notices: the timeouts of I'mport's first delivery (readme-v1: connect 10 s, read 30 s).
DEFAULT_WEBHOOK_CONNECT_TIMEOUT_MS = 10_000
DEFAULT_WEBHOOK_READ_TIMEOUT_MS = 30_000
WEBHOOK_FORMATS = ("json", "form")


@dataclasses.dataclass(frozen=True)
class Config:
    """Switches changeable at run time through `POST /__sandbox__/config`."""

    latency_ms: int = 0  # added to every I'mport response (a network round trip)
    token_latency_ms: int = 0  # added to getToken only (makes cold-cache races observable)
    not_found_as_404: bool = False  # the spec's 404 instead of the observed 200 + code 1
    unauthorized: bool = False  # every business call answers 401, even with a valid token
    # The switches below let the sandbox play each variant of what the notes leave UNCONFIRMED
    # (§13), so a client can be tested against all of them.
    unknown_customer_code: int = 1  # `again`, unknown customer_uid: 1 (2018-20) or -1 (2019-)
    duplicate_code: int = 1  # `again`, merchant_uid taken: "≠0", value unknown
    failed_blocks_merchant_uid: bool = False  # a failed/ready attempt also takes the merchant_uid
    partial_cancel_status: str = "paid"  # status after a partial cancel (samchon's fake: cancelled)
    hide_sandbox_payments: bool = False  # lookups need include_sandbox=true (live since 2026-01-26)
    # Webhook notices (the console's "결제알림(Webhook)" setting); a payment's notice_url wins.
    webhook_url: str | None = None  # None: only payments with a notice_url are notified
    webhook_format: str = "json"  # "json" or "form" (application/x-www-form-urlencoded)
    webhook_connect_timeout_ms: int = DEFAULT_WEBHOOK_CONNECT_TIMEOUT_MS
    webhook_read_timeout_ms: int = DEFAULT_WEBHOOK_READ_TIMEOUT_MS


CONFIG_TYPES: dict[str, type] = {
    "latency_ms": int,
    "token_latency_ms": int,
    "not_found_as_404": bool,
    "unauthorized": bool,
    "unknown_customer_code": int,
    "duplicate_code": int,
    "failed_blocks_merchant_uid": bool,
    "partial_cancel_status": str,
    "hide_sandbox_payments": bool,
    "webhook_url": str,
    "webhook_format": str,
    "webhook_connect_timeout_ms": int,
    "webhook_read_timeout_ms": int,
}
# Keys that also take `null`.
CONFIG_NULLABLE = frozenset({"webhook_url"})
# Keys that take only a few values; any other int key must be >= 0.
CONFIG_CHOICES: dict[str, tuple[object, ...]] = {
    "unknown_customer_code": (1, -1),
    "duplicate_code": (1, -1),
    "partial_cancel_status": ("paid", "cancelled"),
    "webhook_format": WEBHOOK_FORMATS,
}
