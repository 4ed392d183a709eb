"""The HTTP errors the service raises by name, each answered with its stable code (the kinds
are declared in api.error_kinds, rendered by api.errors)."""

from __future__ import annotations

import math
import time
from typing import Any

from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
)


class InvalidJson(BadRequest):
    """The body is declared as JSON but cannot be parsed."""

    error_code = "invalid_json"


class CallerUnauthorized(Unauthorized):
    """No caller key, or one we do not know."""

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", "Bearer")]


class CallerForbidden(Forbidden):
    """A known caller whose key lacks the operation's scope."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class InvalidIdempotencyKey(BadRequest):
    """The Idempotency-Key header is malformed, or sent more than once."""

    error_code = "invalid_idempotency_key"


class IdempotencyKeyReused(UnprocessableEntity):
    """The Idempotency-Key was first used with another request."""

    error_code = "idempotency_key_reused"


class RequestInProgress(Conflict):
    """The first request with this Idempotency-Key, or for this order, is still running."""

    error_code = "request_in_progress"

    def __init__(self, until: float) -> None:
        super().__init__()
        # Until the holder's lease ends, at most 10 s: most requests end much sooner.
        self.retry_after = max(1, min(math.ceil(until - time.time()), 10))

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("Retry-After", str(self.retry_after))]


class BillingKeyExists(PreconditionFailed):
    """``If-None-Match: *`` and the customer_uid already has a key."""

    error_code = "billing_key_exists"


class EventNotFound(NotFound):
    """No failed delivery of that event to re-send."""

    error_code = "event_not_found"


class InvalidSignature(BadRequest):
    """A PortOne V2 webhook no configured secret signed (or unsigned, or expired)."""

    error_code = "invalid_signature"


class WebhookNotConfigured(ServiceUnavailable):
    """PortOne V2's webhooks come, but PORTONE_WEBHOOK_SECRET is not set."""

    error_code = "webhook_not_configured"


class StateUnavailableError(ServiceUnavailable):
    """The state store cannot be used; nothing was sent to I'mport."""

    error_code = "state_unavailable"


class UnsupportedBody(UnsupportedMediaType):
    """The body is neither JSON nor an HTML form."""
