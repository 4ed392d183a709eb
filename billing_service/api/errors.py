"""The service's one error shape, and the one place that turns exceptions into it (the kinds
are declared in api.error_kinds).

Every error, from every endpoint, is ``{"status": "failed", "code", "message", "request_id"}``,
plus ``errors`` (per field) on validation failures and ``gateway_code`` on card rejections.
Messages are fixed texts or I'mport's own: they never echo what the caller sent.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import marshmallow as ma
from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from ..gateway import (
    BillingKeyNotFound,
    CancelExceedsBalance,
    CancelOutcomeUnknown,
    CancelRefused,
    CardDeclined,
    CardRejected,
    ChargeOutcomeUnknown,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    KeyNotRemembered,
    NothingToCancel,
    PaymentNotFound,
    RequestNotSupported,
    RequestOutstanding,
    ScheduleNotFound,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    ScheduleRefused,
    SchedulesPending,
    UnknownBillingKeyRefusal,
)
from ..state import StateUnavailable
from .error_kinds import ERRORS, ErrorKind
from .fields import constant
from .schemas import PaymentSchema

logger = logging.getLogger(__name__)


class ErrorSchema(ma.Schema):
    """The error body of every endpoint."""

    status = ma.fields.Constant("failed", required=True, metadata=constant("failed"))
    code = ma.fields.String(
        required=True,
        metadata={"enum": sorted(ERRORS), "description": "Stable snake_case error code."},
    )
    message = ma.fields.String(required=True, metadata={"description": "Human-readable text."})
    request_id = ma.fields.String(
        required=True, metadata={"description": "Quote it when reporting a problem."}
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.Raw()),
        metadata={"description": "Per-field messages (422 only)."},
    )
    gateway_code = ma.fields.Integer(
        metadata={
            "description": "I'mport's envelope code (card_rejected, card_declined, "
            "cancel_refused); PortOne V1 (I'mport) only."
        }
    )
    pg_code = ma.fields.String(
        metadata={
            "description": "The card company's or PG's own code for its refusal (card_rejected, "
            "card_declined, cancel_refused), when PortOne passes it on; PortOne V2 only."
        }
    )
    payment = ma.fields.Nested(
        PaymentSchema,
        metadata={"description": "The failed payment, when PortOne kept one (card_declined)."},
    )
    checks = ma.fields.Dict(
        metadata={
            "description": "What each readiness check found, as in `/readyz`'s 200 "
            "(not_ready only)."
        }
    )
    retryable = ma.fields.Boolean(
        metadata={
            "description": "True: retrying is safe and may succeed. Every 5xx of a charge, "
            "cancel, schedule or issuance sent with an Idempotency-Key (retry with the same key "
            "and body), or that sent nothing to PortOne; a charge or schedule whose outcome is "
            "unknown (retry with the same merchant_uid). Absent: do not retry as is (a cancel "
            "without a key that may have reached PortOne: look the payment up first)."
        }
    )


# Most specific first: the first class in an exception's MRO found here decides.
_GATEWAY_ERROR_CODES: dict[type[GatewayError], str] = {
    CardRejected: "card_rejected",
    CardDeclined: "card_declined",
    BillingKeyNotFound: "billing_key_not_found",
    PaymentNotFound: "payment_not_found",
    DuplicateMerchantUid: "duplicate_merchant_uid",
    ScheduleNotFound: "schedule_not_found",
    ScheduleNotRevocable: "schedule_not_revocable",
    ScheduleRefused: "schedule_refused",
    SchedulesPending: "schedules_pending",
    NothingToCancel: "nothing_to_cancel",
    CancelRefused: "cancel_refused",
    CancelExceedsBalance: "invalid_request",
    RequestNotSupported: "invalid_request",
    KeyNotRemembered: "state_unavailable",
    # PortOne V2 still runs an earlier attempt of this very request (same Idempotency-Key).
    RequestOutstanding: "request_in_progress",
    GatewayAuthFailed: "gateway_auth_failed",
    GatewayUnavailable: "gateway_unavailable",
    GatewayTimeout: "gateway_timeout",
    GatewayError: "gateway_error",
}

_HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
}


class NotReady(ServiceUnavailable):
    """This instance cannot serve (GET /readyz): ``reason`` is a fixed text, never a secret."""

    error_code = "not_ready"

    def __init__(self, reason: str | None, *, checks: dict[str, Any]) -> None:
        super().__init__()
        self.message = reason
        self.extra = {"checks": checks}


# What can keep a token from being fetched; anything else reads as gateway_error.
_NOT_READY_CAUSES = ("gateway_auth_failed", "gateway_unavailable", "gateway_timeout")


def not_ready_reason(cause: GatewayError) -> str:
    """A fixed text per failure class: never I'mport's words, a URL or a secret."""
    code = _gateway_error_code(cause)
    kind = ERRORS[code if code in _NOT_READY_CAUSES else "gateway_error"]
    return f"No I'mport access token: {kind.message}"


def error_response(
    kind: ErrorKind,
    message: str | None = None,
    *,
    headers: list[tuple[str, str]] | None = None,
    retryable: bool = False,
    **extra: Any,
) -> Response:
    """Build the JSON error response for ``kind``; ``retryable``: safe to retry whatever the
    request (a 5xx of a money-moving POST also is when _safe_to_retry says so)."""
    g.error_code = kind.code  # for the audit trail
    body = {
        "status": "failed",
        "code": kind.code,
        "message": message or kind.message,
        "request_id": g.get("request_id"),
        **extra,
    }
    if retryable or (kind.status >= 500 and _safe_to_retry()):
        body["retryable"] = True
    response = jsonify(body)
    response.status_code = kind.status
    for name, value in headers or ():
        response.headers[name] = value
    return response


def http_error_response(error: HTTPException) -> Response:
    """Render any werkzeug HTTP error, the routing 404/405 and webargs' 422 included."""
    status = error.code or 500
    code = getattr(error, "error_code", None) or _HTTP_ERROR_CODES.get(status)
    # One werkzeug raises that the registry does not list (say a 431) answers its own name.
    kind = ERRORS.get(code or "") or ErrorKind(
        status, _snake_case(error.name), error.name, when=error.description or ""
    )
    # werkzeug's own headers carry the 405's Allow and the 401's WWW-Authenticate.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    data = getattr(error, "data", None) or {}
    headers.extend((data.get("headers") or {}).items())
    extra: dict[str, Any] = dict(getattr(error, "extra", {}))
    if "messages" in data:
        extra["errors"] = _field_errors(data["messages"])
    return error_response(kind, getattr(error, "message", None), headers=headers, **extra)


def gateway_error_response(error: GatewayError) -> Response:
    """Render a failed provider call (I'mport V1 or PortOne V2) as its documented 4xx/5xx."""
    kind = ERRORS[_gateway_error_code(error)]
    cause = type(error.__cause__).__name__
    logger.warning("Payment provider call failed: %r (cause: %s)", error, cause)
    if isinstance(error, CardRejected | CardDeclined | CancelRefused):
        extra: dict[str, Any] = {} if error.code is None else {"gateway_code": error.code}
        if error.pg_code is not None:
            extra["pg_code"] = error.pg_code
        if isinstance(error, CardDeclined) and error.payment is not None:
            extra["payment"] = PaymentSchema().dump(error.payment)
        return error_response(kind, error.message, **extra)
    if isinstance(error, CancelExceedsBalance):
        return error_response(kind, errors={"amount": [error.message]})
    if isinstance(error, RequestNotSupported):
        return error_response(kind, errors={error.field: [error.message]})
    if isinstance(error, KeyNotRemembered):
        return error_response(kind, error.message, retryable=True)
    if isinstance(error, RequestOutstanding):
        # PortOne answers the earlier attempt's outcome once it has one: soon.
        return error_response(kind, headers=[("Retry-After", "1")])
    if isinstance(error, ChargeOutcomeUnknown | ScheduleOutcomeUnknown):
        # Sent, with or without a key: I'mport refuses a merchant_uid twice, so a retry with
        # the same one cannot charge twice.
        return error_response(kind, error.message, retryable=True)
    if isinstance(error, CancelOutcomeUnknown) and g.get("idempotency") is None:
        # Its message says "retry with the same key": there was none, and a retry under a new
        # one would read the reduced balance and refund again.
        return error_response(kind, _KEYLESS_CANCEL_UNKNOWN)
    # I'mport's words for what it refused, or the gateway's reading of its records; a lookup
    # that found nothing answers the fixed text (I'mport's repeats the id asked for).
    if isinstance(
        error,
        CancelOutcomeUnknown
        | DuplicateMerchantUid
        | NothingToCancel
        | ScheduleRefused
        | ScheduleNotRevocable
        | UnknownBillingKeyRefusal,
    ):
        return error_response(kind, error.message)
    return error_response(kind)


_KEYLESS_CANCEL_UNKNOWN = (
    "The cancel was sent without an Idempotency-Key and its outcome is unknown; look the payment "
    "up (its cancel_history) before cancelling again."
)


# The I'mport calls (call_context.SENT_CALLS names) that move money or issue a key.
_MOVING_CALLS = frozenset({"issue_billing_key", "charge", "cancel_payment", "schedule"})


def _safe_to_retry() -> bool:
    """Whether a 5xx answer is safe to retry: for a money-moving POST (api.idempotency tracks
    its calls), always with an Idempotency-Key (a resumed attempt looks up before it sends,
    and a cancel resends its first checksum); without one, only if nothing that moves money
    may have reached I'mport (a cancel retried without its key reads the reduced balance)."""
    sent: set[str] | None = g.get("sent_calls")
    if sent is None:
        return False
    return g.get("idempotency") is not None or not sent & _MOVING_CALLS


def _gateway_error_code(error: GatewayError) -> str:
    return next(_GATEWAY_ERROR_CODES[c] for c in type(error).__mro__ if c in _GATEWAY_ERROR_CODES)


def state_error_response(error: StateUnavailable) -> Response:
    """The state store failed: nothing was sent to I'mport (or, after, nothing more)."""
    logger.warning("The state store failed: %s", error)
    return error_response(ERRORS["state_unavailable"])


def register_error_handlers(app: Flask) -> None:
    """Send gateway and state failures through the error table (HTTP errors go through the
    Api)."""
    app.register_error_handler(GatewayError, gateway_error_response)
    app.register_error_handler(StateUnavailable, state_error_response)


# Field names are the caller's input too: only ones that look like identifiers, with no run of
# digits that could be part of a card number, are repeated.
_SAFE_FIELD = re.compile(r"(?!.*[0-9]{4})[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def _field_errors(messages: Any) -> dict[str, Any]:
    """Flatten webargs' ``{location: {field: [...]}}`` into ``{field: [...]}``."""
    flat: dict[str, Any] = {}
    for location_errors in messages.values():
        if not isinstance(location_errors, dict):
            continue
        for field, errors in location_errors.items():
            name = field if isinstance(field, str) and _SAFE_FIELD.fullmatch(field) else "_unknown"
            flat.setdefault(name, [])
            flat[name].extend(errors if isinstance(errors, list) else [errors])
    return flat


def _snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
