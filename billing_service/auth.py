"""Caller authentication: ``Authorization: Bearer <secret>`` against ``BILLING_API_KEYS``."""

from __future__ import annotations

import hmac
import logging

from flask import current_app, g, request

from .errors import CallerUnauthorized

logger = logging.getLogger(__name__)


def require_caller() -> None:
    """Identify the calling service, or answer 401. No keys configured: everyone is let in."""
    callers: dict[str, str] = current_app.config["BILLING_CALLERS"]
    if not callers:
        g.caller = "anonymous"
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    candidate = presented.strip().encode("utf-8", "surrogateescape")
    caller = None
    # Compare with every secret, in constant time, so timing reveals nothing about any of them.
    for name, secret in callers.items():
        if hmac.compare_digest(candidate, secret.encode()) and scheme.lower() == "bearer":
            caller = name
    if caller is None:
        logger.warning(
            "Refused a request without a valid caller key: %s %s", request.method, request.path
        )
        raise CallerUnauthorized()
    g.caller = caller
