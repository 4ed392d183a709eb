"""What every PortOne V2 call needs: the transport, the secret, the store, the channel, the
idempotency key of a call that moves money or creates something, and the directory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..call_context import IDEMPOTENCY_SEED, CallObserver
from ..http import Transport
from .answer import PROVIDER, read_answer
from .directory import Directory

# PortOne's timeout policy asks for reads of at least 60 s on calls that move money or create
# something; lookups, searches and deletes answer at once or not at all.
MOVING_READ_TIMEOUT = 60.0
LOOKUP_READ_TIMEOUT = 10.0
# Searches start here: without ``from`` PortOne looks back only 90 days.
SEARCH_FROM = "2000-01-01T00:00:00Z"


class PortOneSession:
    """Calls PortOne V2 with ``Authorization: PortOne <secret>`` through one Transport.

    Nothing is retried here: there is no token to refresh, and a call that moves money is sent
    again only by a resumed request, with the same Idempotency-Key and the same body.

    ``store_id`` goes with every call that takes one (without it a billing-key search spans
    every store of the merchant); ``channel_key`` is the channel of issuance and charges unless
    a request (or, for a charge, the key) names its own; ``directory`` remembers V2's ids behind
    the caller's (see ``directory``); ``notice_url`` goes with charges and schedules as their
    ``noticeUrls`` (None: PortOne's console URL).
    """

    def __init__(
        self,
        base_url: str,
        api_secret: str,
        store_id: str,
        directory: Directory,
        *,
        channel_key: str | None = None,
        notice_url: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = MOVING_READ_TIMEOUT,
        lookup_timeout: float = LOOKUP_READ_TIMEOUT,
        proxy_url: str | None = None,
        ca_bundle: str | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self._transport = Transport(
            base_url,
            read_answer,
            provider=PROVIDER,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            proxy_url=proxy_url,
            ca_bundle=ca_bundle,
            observer=observer,
        )
        self._authorization = {"Authorization": f"PortOne {api_secret}"}
        self._store_id = store_id
        self._channel_key = channel_key
        self._notice_url = notice_url
        self._lookup_timeout = lookup_timeout
        self._moving_timeout = read_timeout
        self._directory = directory

    def _move(
        self,
        operation: str,
        path: str,
        body: Mapping[str, Any],
        *,
        read_timeout: float | None = None,
    ) -> Any:
        """POST a call that moves money or creates something: ``storeId`` in its body (in its
        ``payment`` for a schedule, whose body holds the payment), its own Idempotency-Key, the
        long read timeout (``read_timeout``: less, when a deadline leaves less)."""
        headers = dict(self._authorization)
        key = idempotency_key("POST", path)
        if key is not None:
            headers["Idempotency-Key"] = key
        if "payment" in body:
            body = {**body, "payment": {**body["payment"], "storeId": self._store_id}}
        else:
            body = {**body, "storeId": self._store_id}
        return self._transport.request(
            operation, "POST", path, body, headers=headers, read_timeout=read_timeout
        )

    def _delete_with_body(self, operation: str, path: str, body: Mapping[str, Any]) -> Any:
        """A ``DELETE`` whose arguments are a body (``DELETE /payment-schedules``), ``storeId``
        in it, the short read timeout. No Idempotency-Key: one key per path would replay one
        revoke's answer to another of the same request; sent again, a revoke is refused as
        done (``PAYMENT_SCHEDULE_ALREADY_REVOKED``), which the caller reads."""
        return self._transport.request(
            operation,
            "DELETE",
            path,
            {**body, "storeId": self._store_id},
            headers=self._authorization,
            read_timeout=self._lookup_timeout,
        )

    def _look_up(self, operation: str, path: str, *, method: str = "GET", **query: str) -> Any:
        """A lookup (or a delete) by id: ``storeId`` in its query, the short read timeout."""
        return self._transport.request(
            operation,
            method,
            path,
            params={"storeId": self._store_id, **query},
            headers=self._authorization,
            read_timeout=self._lookup_timeout,
        )

    def _search(self, operation: str, path: str, request: Mapping[str, Any]) -> list[Any]:
        """A search (``GET`` with its body in ``?requestBody=``, as PortOne's SDK sends it),
        filtered to our store, from 2000 on; its ``items``."""
        request = {
            **request,
            "filter": {"storeId": self._store_id, "from": SEARCH_FROM, **request.get("filter", {})},
        }
        data = self._transport.request(
            operation,
            "GET",
            path,
            params={"requestBody": json.dumps(request, separators=(",", ":"))},
            headers=self._authorization,
            read_timeout=self._lookup_timeout,
        )
        items = data.get("items")
        return items if isinstance(items, list) else []


def idempotency_key(method: str, path: str) -> str | None:
    """The call's Idempotency-Key (an RFC 8941 quoted string), derived from the request's seed
    (``call_context.IDEMPOTENCY_SEED``) and the call itself: one per distinct call, the same for a
    resumed request. None when the host set no seed."""
    seed = IDEMPOTENCY_SEED.get()
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}\n{method} {path}".encode()).hexdigest()
    return f'"{digest}"'


def segment(value: str) -> str:
    """One URL path segment; callers validate that it is not "." or "..", which would collapse."""
    return quote(value, safe="")
