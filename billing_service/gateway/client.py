"""The I'mport (PortOne V1) REST API client: the only code that speaks HTTP to I'mport."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from .exceptions import (
    CardRejected,
    GatewayAuthFailed,
    GatewayTimeout,
    GatewayUnavailable,
    ProviderError,
    UnexpectedResponse,
)
from .models import AccessToken, BillingKey, CardDetails
from .token import AccessTokenCache


class IamportClient:
    """Calls I'mport with a cached access token, over one pooled connection per thread.

    Nothing is retried except a business call that I'mport answered with 401 (the token was
    refused, so the call did not run): the token is refreshed once and the call sent once more.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"imp_key": api_key, "imp_secret": api_secret}
        self._timeout = (connect_timeout, read_timeout)
        self._tokens = AccessTokenCache(self._fetch_token, clock)
        self._local = threading.local()

    def issue_billing_key(
        self,
        customer_uid: str,
        card: CardDetails,
        customer: Mapping[str, str] | None = None,
    ) -> BillingKey:
        """Issue (or replace) the billing key of ``customer_uid``.

        Calls ``POST /subscribe/customers/{customer_uid}``. Raises CardRejected when I'mport
        answers with code != 0, or another GatewayError.
        """
        body: dict[str, str] = {
            "card_number": _dashed_card_number(card.number),
            "expiry": card.expiry,
            "birth": card.birth,
            **(customer or {}),
        }
        if card.pwd_2digit is not None:
            body["pwd_2digit"] = card.pwd_2digit
        try:
            data = self._call("POST", f"/subscribe/customers/{quote(customer_uid, safe='')}", body)
        except ProviderError as exc:
            # I'mport reports a refused card as 200 (or, for some PG checks, 400) with code != 0;
            # any other status with an envelope means we called it wrongly: not the card's fault.
            if exc.http_status is not None and (exc.http_status < 300 or exc.http_status == 400):
                raise CardRejected(exc.message, http_status=exc.http_status, code=exc.code) from exc
            raise
        return BillingKey.from_annotation(data)

    def _fetch_token(self) -> AccessToken:
        """Call ``POST /users/getToken``; I'mport answers 401 when the key or secret is wrong."""
        try:
            data = self._request("POST", "/users/getToken", self._credentials)
        except ProviderError as exc:  # e.g. key or secret missing: our configuration, not a card
            raise GatewayAuthFailed(
                "I'mport refused our API credentials.", http_status=exc.http_status, code=exc.code
            ) from exc
        try:
            value, now, expired_at = data["access_token"], data["now"], data["expired_at"]
        except (TypeError, KeyError) as exc:
            raise UnexpectedResponse("I'mport returned a malformed access token.") from exc
        if not (isinstance(value, str) and value and _is_int(now) and _is_int(expired_at)):
            raise UnexpectedResponse("I'mport returned a malformed access token.")
        return AccessToken(value=value, lifetime=expired_at - now)

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Make an authenticated call, refreshing a refused token once."""
        token = self._tokens.get()
        try:
            return self._request(method, path, body, token=token)
        except GatewayAuthFailed:
            # A 401 means I'mport did not run the call, so sending it again is safe.
            self._tokens.invalidate(token)
            return self._request(method, path, body, token=self._tokens.get())

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> Any:
        """Send one request and return the envelope's ``response``; the single choke point.

        I'mport wraps every answer, errors included, in ``{code, message, response}`` and reports
        most business failures as HTTP 200 with ``code != 0``: both the status and the code are
        checked, and the envelope is read on 4xx too.
        """
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            resp = self._session().request(
                method,
                self.base_url + path,
                json=body,
                headers=headers,
                timeout=self._timeout,
                # A redirect would re-post card data to another host (OWASP API10).
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise GatewayTimeout("I'mport did not answer in time.") from exc
        except requests.RequestException as exc:
            # A read timeout while the body arrives surfaces as a ConnectionError in requests.
            if isinstance(exc.args[0] if exc.args else None, ReadTimeoutError):
                raise GatewayTimeout("I'mport did not answer in time.") from exc
            raise GatewayUnavailable("I'mport could not be reached.") from exc

        status = resp.status_code
        if status == 401:
            raise GatewayAuthFailed("I'mport refused our API credentials.", http_status=status)
        if status >= 500 or 300 <= status < 400:
            raise UnexpectedResponse(f"I'mport answered HTTP {status}.", http_status=status)
        try:
            envelope = resp.json()
        except ValueError as exc:
            raise UnexpectedResponse("I'mport answered with a body that is not JSON.") from exc
        if not isinstance(envelope, dict) or not _is_int(envelope.get("code")):
            raise UnexpectedResponse("I'mport answered without its response envelope.")
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

    def _session(self) -> requests.Session:
        # requests does not promise that a Session is thread-safe, and a forked worker must not
        # share its parent's sockets: one Session per thread and per process.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None or self._local.pid != os.getpid():
            session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
            session.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
            self._local.session, self._local.pid = session, os.getpid()
        return session


def _dashed_card_number(digits: str) -> str:
    """I'mport documents card numbers as dddd-dddd-dddd-dddd; shorter ones end in a short group."""
    return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
