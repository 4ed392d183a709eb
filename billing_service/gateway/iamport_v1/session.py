"""What every I'mport call needs: the transport, the access token, the channel, and how a
refusal of a lookup by key or payment reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from ..call_context import CallObserver
from ..exceptions import (
    BillingKeyNotFound,
    GatewayAuthFailed,
    GatewayError,
    PaymentNotFound,
    ProviderError,
)
from ..http import Transport
from ..models import Payment
from .envelope import PROVIDER, read_answer
from .parsing import parse_access_token, parse_payment
from .token import AccessToken, AccessTokenCache


class IamportSession:
    """Calls I'mport with a cached access token, through one Transport.

    Nothing is retried except a business call that I'mport answered with 401 (the token was
    refused, so the call did not run): the token is refreshed once and the call sent once more.

    ``observer`` (optional) is told about every call and token fetch (see ``call_context``); every
    call carries ``call_context.REQUEST_ID`` as ``X-Request-ID`` when it is set.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        proxy_url: str | None = None,
        ca_bundle: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        observer: CallObserver | None = None,
        channel_key: str | None = None,
    ) -> None:
        # The console channel to use, unless a call names its own (I'mport's spec marks it
        # required on issuance since 2026-05; older integrations send pg instead).
        self._channel_key = channel_key
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
        self._credentials = {"imp_key": api_key, "imp_secret": api_secret}
        self._tokens = AccessTokenCache(self._fetch_token, clock)

    def check_ready(self) -> None:
        """Return if the service can call I'mport: it holds a valid access token or gets one.

        A cached token counts (no call is made then); otherwise one is fetched, as the next
        business call would. Raises the GatewayError of the failed fetch (GatewayAuthFailed,
        GatewayUnavailable, GatewayTimeout, UnexpectedResponse).
        """
        self._tokens.get()

    def _channel(self, override: str | None) -> dict[str, str]:
        key = override or self._channel_key
        return {"channel_key": key} if key else {}

    def _look_up_payment(self, operation: str, path: str) -> Payment:
        try:
            # Since 2026-01-26 I'mport hides payments made on test channels unless asked to
            # include them; the service must find every payment it made.
            data = self._call(operation, "GET", path, params={"include_sandbox": "true"})
        except ProviderError as exc:  # observed: 404 with code -1
            if exc.http_status == 404 or (exc.http_status is not None and exc.http_status < 300):
                raise PaymentNotFound(
                    exc.message, http_status=exc.http_status, code=exc.code
                ) from exc
            raise
        return parse_payment(data)

    def _customer_call(
        self,
        operation: str,
        method: str,
        customer_uid: str,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            return self._call(
                operation, method, f"/subscribe/customers/{segment(customer_uid)}", params=params
            )
        except ProviderError as exc:
            # Observed: 200 with code 1 ("…찾을 수 없습니다"); I'mport's spec: 404. Both: absent.
            if exc.http_status is not None and (exc.http_status < 300 or exc.http_status == 404):
                raise BillingKeyNotFound(
                    exc.message, http_status=exc.http_status, code=exc.code
                ) from exc
            raise

    def _fetch_token(self) -> AccessToken:
        """Call ``POST /users/getToken``; I'mport answers 401 when the key or secret is wrong."""
        self._transport.token_fetched()
        try:
            data = self._transport.request(
                "get_token", "POST", "/users/getToken", self._credentials
            )
        except ProviderError as exc:  # e.g. key or secret missing: our configuration, not a card
            raise GatewayAuthFailed(
                "I'mport refused our API credentials.", http_status=exc.http_status, code=exc.code
            ) from exc
        return parse_access_token(data)

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Make an authenticated call, refreshing a refused token once."""
        token = self._token()
        try:
            return self._transport.request(
                operation, method, path, body, params=params, token=token
            )
        except GatewayAuthFailed:
            # A 401 means I'mport did not run the call, so sending it again is safe.
            self._tokens.invalidate(token)
            return self._transport.request(
                operation, method, path, body, params=params, token=self._token()
            )

    def _token(self) -> str:
        try:
            return self._tokens.get()
        except GatewayError as exc:
            exc.request_sent = False  # the call that needed the token was never sent
            raise


def segment(value: str) -> str:
    """One URL path segment; callers validate that it is not "." or "..", which would collapse."""
    return quote(value, safe="")
