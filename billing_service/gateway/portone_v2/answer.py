"""PortOne V2's answers: the resource itself on 2xx, ``{type, message}`` on a refusal.

The transport (``gateway.http``) gets the answer; this reads it: the HTTP status, then the typed
error body of a 4xx or a 502 (``PG_PROVIDER`` and ``CHANNEL_SPECIFIC`` add the PG's code and
words), into the resource or the gateway's exceptions. An untyped 5xx, a redirect or a body that
is not JSON says nothing of what PortOne did: UnexpectedResponse, an unknown outcome for a call
that moves money.
"""

from __future__ import annotations

import json
from typing import Any

from ..exceptions import GatewayAuthFailed, ProviderError, UnexpectedResponse

# The provider's name in the transport's and the readers' messages.
PROVIDER = "PortOne"
# PortOne's typed refusals come as 4xx, and as 502 for what the PG refused (its only typed 5xx).
_TYPED_5XX = 502


class Refusal(ProviderError):
    """PortOne refused a call with its typed error body; ``error_type`` is its ``type``
    (``ALREADY_PAID``, ``PG_PROVIDER``, ...), ``pg_code``/``pg_message`` the PG's, if it spoke.
    The operations turn it into the ladder's meaning (CardDeclined, DuplicateMerchantUid, ...)."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        http_status: int,
        pg_code: str | None = None,
        pg_message: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, pg_code=pg_code)
        self.error_type = error_type
        self.pg_message = pg_message

    @property
    def words(self) -> str:
        """What to tell the caller: the PG's message, else PortOne's."""
        return self.pg_message or self.message


def read_answer(status: int, raw_body: bytes) -> Any:
    """Return the resource of a 2xx answer; raise the gateway's exception for anything else."""
    if status == 401:
        raise GatewayAuthFailed("PortOne refused our API secret.", http_status=status)
    try:
        # bytes: json detects UTF-8 (what PortOne sends), UTF-16/32 and a BOM by itself.
        body = json.loads(raw_body)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested deeper than we recurse
        raise _untyped(status) from exc
    if 200 <= status < 300:
        if not isinstance(body, dict):
            raise UnexpectedResponse("PortOne answered without a JSON object.", http_status=status)
        return body
    refusal = _refusal(status, body)
    if refusal is None:
        raise _untyped(status)
    if refusal.error_type == "FORBIDDEN":  # our secret may not act on this store
        raise GatewayAuthFailed(refusal.message, http_status=status) from refusal
    raise refusal


def _untyped(status: int) -> ProviderError | UnexpectedResponse:
    """An answer without PortOne's typed body: a bare 404 (from a proxy, say) still means "no
    such thing"; anything else says nothing of what PortOne did."""
    if status == 404:
        return ProviderError("PortOne answered 404.", http_status=404)
    return UnexpectedResponse(f"PortOne answered HTTP {status}.", http_status=status)


def _refusal(status: int, body: Any) -> Refusal | None:
    """The typed error of a 4xx or 502 body, or None when it has none."""
    if not (400 <= status < 500 or status == _TYPED_5XX) or not isinstance(body, dict):
        return None
    error_type = body.get("type")
    if not isinstance(error_type, str) or not error_type:
        return None
    message, pg_code, pg_message = (
        _text(body.get(key)) for key in ("message", "pgCode", "pgMessage")
    )
    return Refusal(
        message or f"PortOne refused the request ({error_type}).",
        error_type=error_type,
        http_status=status,
        pg_code=pg_code,
        pg_message=pg_message,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
