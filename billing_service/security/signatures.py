"""PortOne V2's webhook signatures (Standard Webhooks): which of our secrets signed a body.

PortOne signs ``{webhook-id}.{webhook-timestamp}.{raw body}`` with HMAC-SHA256 under the
console's secret, and sends ``webhook-signature: v1,<base64> …``. The body is verified as the
text it arrived as (re-serialised JSON would not match), with a 5-minute tolerance on the
timestamp; any of the configured secrets verifies, so two overlap during a rotation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from standardwebhooks import Webhook, WebhookVerificationError

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class Headers(Protocol):
    """A request's headers, read by name (Flask's, whatever the case they were sent in)."""

    def get(self, key: str) -> str | None: ...


class BadSignature(Exception):
    """No configured secret verifies the webhook (or its headers are missing or expired)."""


def verify_webhook(secrets: Sequence[str], body: str, headers: Headers) -> Any:
    """The webhook's JSON, once one of ``secrets`` verifies it; raise BadSignature (its reason:
    headers missing or malformed, timestamp out of tolerance, no matching signature)."""
    # Only the three, read by name through the request's own (case-insensitive) headers.
    sent = {name: value for name in HEADERS if (value := headers.get(name)) is not None}
    reason = "no secret"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, sent, json_parse=False)
        except WebhookVerificationError as exc:
            reason = str(exc)
            continue
        except ValueError:  # a signature list that is not `v1,<base64>`
            reason = "Malformed signature"
            continue
        try:
            return json.loads(body)
        except ValueError as exc:
            raise BadSignature("signed, but not JSON") from exc
    raise BadSignature(reason)
