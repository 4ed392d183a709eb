"""I'mport's envelope: every answer, errors included, is ``{code, message, response}``.

The transport (``gateway.http``) gets the answer; this reads it: the HTTP status, then the
envelope's ``code`` (V1 only: 200 with ``code != 0`` is a refusal), into the envelope's
``response`` or the gateway's exceptions.
"""

from __future__ import annotations

import json
from typing import Any

from ..exceptions import GatewayAuthFailed, ProviderError, UnexpectedResponse
from ..fields import is_whole
from .parsing import PROVIDER

__all__ = ["PROVIDER", "read_answer"]


def read_answer(status: int, raw_body: bytes) -> Any:
    """Check an answer's status and envelope; return the envelope's ``response``.

    I'mport wraps every answer, errors included, in ``{code, message, response}`` and reports
    most business failures as HTTP 200 with ``code != 0``: both the status and the code are
    checked, and the envelope is read on 4xx too.
    """
    if status == 401:
        raise GatewayAuthFailed("I'mport refused our API credentials.", http_status=status)
    if status >= 500 or 300 <= status < 400:
        raise UnexpectedResponse(f"I'mport answered HTTP {status}.", http_status=status)
    try:
        # bytes: json detects UTF-8 (what I'mport sends), UTF-16/32 and a BOM by itself.
        envelope = json.loads(raw_body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        envelope = None
    if not isinstance(envelope, dict) or not is_whole(envelope.get("code")):
        if status == 404:  # a bare 404 (from a proxy, say) still means "no such thing"
            raise ProviderError("I'mport answered 404.", http_status=404)
        raise UnexpectedResponse("I'mport answered without its JSON envelope.")
    if envelope["code"] != 0:
        message = envelope.get("message")
        raise ProviderError(
            message if isinstance(message, str) and message else "I'mport refused the request.",
            http_status=status,
            code=envelope["code"],
        )
    if status >= 400:
        raise UnexpectedResponse(f"I'mport answered HTTP {status} with code 0.")
    return envelope.get("response")
