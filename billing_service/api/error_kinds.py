"""The error registry: every error the service answers, declared once.

Each kind's status and code are what the API answers, its ``message`` the default text (the
example in each operation's documented responses), and its ``when`` what README's error table
says of it (a test keeps that table equal to this one).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    """One documented error: its HTTP status, stable code, default message, and when it is
    answered (Markdown, as in README's error table)."""

    status: int
    code: str
    message: str
    when: str


_KINDS = (
    ErrorKind(
        400,
        "invalid_json",
        "The request body is not valid JSON.",
        "the body cannot be parsed as JSON",
    ),
    ErrorKind(
        400,
        "bad_request",
        "The request could not be understood.",
        "a request the service cannot read otherwise (an `If-None-Match` other than `*`)",
    ),
    ErrorKind(
        400,
        "card_data_in_url",
        "Card data belongs in the request body, never in the URL.",
        "a card number (Luhn-valid, 13–19 digits, as written with spaces or dashes; or a card-like"
        " run as ids are refused for, dots and underscores included) in the query string",
    ),
    ErrorKind(
        400,
        "invalid_idempotency_key",
        "Idempotency-Key must be one header of 1 to 255 printable ASCII characters.",
        "a malformed `Idempotency-Key`, or more than one",
    ),
    ErrorKind(
        400,
        "invalid_signature",
        "The webhook's signature does not verify.",
        "`POST /webhooks/portone`: the `webhook-*` headers are missing, their timestamp is more "
        "than 5 minutes off, or no `PORTONE_WEBHOOK_SECRET` signed the body; audited",
    ),
    ErrorKind(
        401,
        "unauthorized",
        "Send a valid caller key as 'Authorization: Bearer <key>'.",
        "missing or unknown caller key (`WWW-Authenticate: Bearer`)",
    ),
    ErrorKind(
        402,
        "card_rejected",
        "I'mport refused to issue a billing key for this card.",
        "I'mport answered the issuance with code ≠ 0; `message` is I'mport's, `gateway_code` its "
        "code",
    ),
    ErrorKind(
        402,
        "card_declined",
        "The card company declined the charge.",
        "a charge was declined; `message` is the reason, `payment` the failed payment if any",
    ),
    ErrorKind(
        403,
        "forbidden",
        "This caller key may not use this operation.",
        "the caller key lacks the operation's scope, or issues outside its `prefix=`",
    ),
    ErrorKind(
        404,
        "not_found",
        "There is no such endpoint.",
        "unknown path (or an id that cannot exist)",
    ),
    ErrorKind(
        404,
        "billing_key_not_found",
        "There is no billing key under this customer_uid.",
        "no billing key under that `customer_uid`; `message` is I'mport's when it refused a charge"
        " or a schedule for that reason",
    ),
    ErrorKind(
        404,
        "payment_not_found",
        "There is no such payment (by this imp_uid or merchant_uid).",
        "no payment with that `imp_uid` (or, for `GET "
        "/subscriptions/payments/by-merchant-uid/{merchant_uid}`, that `merchant_uid`)",
    ),
    ErrorKind(
        404,
        "schedule_not_found",
        "There is no scheduled charge with this merchant_uid.",
        "no scheduled charge with that `merchant_uid`",
    ),
    ErrorKind(
        404,
        "event_not_found",
        "There is no failed delivery of this event.",
        "`POST /events/{event_id}/redeliver`: no failed delivery of that event, or an event about "
        "another caller's customer (`prefix=`)",
    ),
    ErrorKind(
        405,
        "method_not_allowed",
        "This endpoint does not allow that method.",
        "wrong method, with an `Allow` header",
    ),
    ErrorKind(
        409,
        "duplicate_merchant_uid",
        "This merchant_uid was already used by another payment.",
        "the `merchant_uid` belongs to another paid or cancelled payment",
    ),
    ErrorKind(
        409,
        "nothing_to_cancel",
        "The payment has nothing left to cancel.",
        "the payment has nothing left to cancel (or its balance changed since the first attempt of"
        " this cancel)",
    ),
    ErrorKind(
        409,
        "schedule_not_revocable",
        "The scheduled charge was executed or revoked already.",
        "the scheduled charge was executed (or revoked) already",
    ),
    ErrorKind(
        409,
        "schedules_pending",
        "The billing key has scheduled charges; revoke them, or delete with revoke_schedules=true.",
        "deleting a key that still has scheduled charges (use `?revoke_schedules=true`)",
    ),
    ErrorKind(
        409,
        "request_in_progress",
        "A request with this Idempotency-Key, or for this order, is still running; nothing was "
        "sent; retry after Retry-After.",
        "the first request with this `Idempotency-Key`, or another request for this order "
        "(`merchant_uid`) or payment (`imp_uid`), is still running; nothing was sent; "
        "`Retry-After` says when to retry",
    ),
    ErrorKind(
        412,
        "billing_key_exists",
        "This customer_uid already has a billing key (If-None-Match).",
        "`If-None-Match: *` and the `customer_uid` has a key already",
    ),
    ErrorKind(
        413,
        "payload_too_large",
        "The request body is larger than 16 KiB.",
        "body over 16 KiB",
    ),
    ErrorKind(
        415,
        "unsupported_media_type",
        "Send the body as application/json or application/x-www-form-urlencoded.",
        "body neither JSON nor form",
    ),
    ErrorKind(
        422,
        "invalid_request",
        "Some fields are invalid; see 'errors'.",
        "validation, per field",
    ),
    ErrorKind(
        422,
        "cancel_refused",
        "I'mport or the card company refused the cancel.",
        "I'mport or the card company refused a cancel of a payment whose balance is still there "
        "(partial cancels not allowed, the window passed); `message` is I'mport's, `gateway_code` "
        "its code; final (replayed under its `Idempotency-Key`)",
    ),
    ErrorKind(
        422,
        "schedule_refused",
        "I'mport refused to schedule these charges.",
        "I'mport refused to schedule, for another reason than an unknown key or a used "
        "`merchant_uid`; `message` is I'mport's",
    ),
    ErrorKind(
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was used with another request; use a new key.",
        "this `Idempotency-Key` was used with another request",
    ),
    ErrorKind(
        429,
        "rate_limited",
        "Too many attempts; retry after the Retry-After delay.",
        "a card-testing limit was reached; `Retry-After` says how many seconds to wait (no "
        "`X-RateLimit-*` headers: they would cost a counter read per limit on every request)",
    ),
    ErrorKind(
        500,
        "internal_error",
        "The service failed unexpectedly.",
        "a bug; nothing internal is shown",
    ),
    ErrorKind(
        502,
        "gateway_error",
        "I'mport answered in a way the service cannot use.",
        "I'mport answered 5xx, a redirect, a non-JSON body or an unexpected shape",
    ),
    ErrorKind(
        502,
        "gateway_auth_failed",
        "I'mport refused the service's API credentials.",
        "I'mport refused our key/secret (a configuration fault; never a 401 to callers)",
    ),
    ErrorKind(
        503,
        "gateway_unavailable",
        "I'mport could not be reached.",
        "connection to I'mport refused or reset",
    ),
    ErrorKind(
        503,
        "webhook_not_configured",
        "PORTONE_WEBHOOK_SECRET is not set: PortOne's webhooks cannot be verified.",
        "`POST /webhooks/portone` without `PORTONE_WEBHOOK_SECRET`: nothing is acted on (PortOne "
        "retries; the follow-ups find the change meanwhile)",
    ),
    ErrorKind(
        503,
        "not_ready",
        "This instance cannot serve now.",
        "`GET /readyz` only: this instance cannot serve (its event consumer stopped, its embedded "
        "store unusable, a Redis that may evict keys, or I'mport refusing the credentials before "
        "it ever got a token); `message` names the fault, `checks` has every check's finding",
    ),
    ErrorKind(
        503,
        "state_unavailable",
        "The service's state store cannot be used now; nothing was sent to I'mport.",
        "the state store cannot be used (Redis down, or allowed to evict keys: see [The Redis it "
        "needs](#the-redis-it-needs); a locked, corrupt or unwritable database) for a charge, "
        'cancel, schedule or keyed request; nothing was sent to I\'mport; `"retryable": true`',
    ),
    ErrorKind(
        504,
        "gateway_timeout",
        "I'mport did not answer in time.",
        "no answer within the timeouts; on a charge or schedule whose outcome stayed unknown, and "
        "on a charge, cancel, schedule or issuance sent with an `Idempotency-Key`, with "
        '`"retryable": true`',
    ),
)

ERRORS = {kind.code: kind for kind in _KINDS}
