"""The I'mport (PortOne V1) REST API client: the only code that speaks HTTP to I'mport."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import certifi
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as TransportError

from .exceptions import (
    BillingKeyNotFound,
    CancelExceedsBalance,
    CardDeclined,
    CardRejected,
    ChargeOutcomeUnknown,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    NothingToCancel,
    PaymentNotFound,
    ProviderError,
    UnexpectedResponse,
)
from .hooks import REQUEST_ID, CallObserver
from .models import AccessToken, BillingKey, CardDetails, Charge, ChargeResult, Payment
from .token import AccessTokenCache

logger = logging.getLogger(__name__)

# What calls go through: a pool of connections to I'mport, or a manager of pools to a proxy.
_Connections = urllib3.HTTPConnectionPool | urllib3.ProxyManager


class IamportClient:
    """Calls I'mport with a cached access token, over a pool of kept-alive connections.

    Nothing is retried except a business call that I'mport answered with 401 (the token was
    refused, so the call did not run): the token is refreshed once and the call sent once more.

    ``observer`` (optional) is told about every call and token fetch (see ``hooks``); every
    call carries ``hooks.REQUEST_ID`` as ``X-Request-ID`` when it is set.
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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._path_prefix = urllib3.util.parse_url(self.base_url).path or ""
        self._credentials = {"imp_key": api_key, "imp_secret": api_secret}
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._read_timeout = read_timeout
        # The read timeout bounds each wait for the next bytes, not the whole answer: an I'mport
        # (or a proxy) that trickles bytes could hold a call, and a gunicorn thread, forever.
        # Every call must end within this total instead (see _request).
        self._deadline = connect_timeout + read_timeout
        self._tokens = AccessTokenCache(self._fetch_token, clock)
        self._proxy_url = proxy_url
        self._ca_bundle = ca_bundle
        # (pid, connections, what goes before a call's path): one attribute, read in one step.
        self._connections_of: tuple[int, _Connections, str] | None = None
        self._observer = observer

    def check_ready(self) -> None:
        """Return if the service can call I'mport: it holds a valid access token or gets one.

        A cached token counts (no call is made then); otherwise one is fetched, as the next
        business call would. Raises the GatewayError of the failed fetch (GatewayAuthFailed,
        GatewayUnavailable, GatewayTimeout, UnexpectedResponse).
        """
        self._tokens.get()

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
            data = self._call(
                "issue_billing_key", "POST", f"/subscribe/customers/{_segment(customer_uid)}", body
            )
        except ProviderError as exc:
            # I'mport reports a refused card as 200 (or, for some PG checks, 400) with code != 0;
            # any other status with an envelope means we called it wrongly: not the card's fault.
            if exc.http_status is not None and (exc.http_status < 300 or exc.http_status == 400):
                raise CardRejected(exc.message, http_status=exc.http_status, code=exc.code) from exc
            raise
        return BillingKey.from_annotation(data)

    def get_billing_key(self, customer_uid: str) -> BillingKey:
        """Look up a billing key (``GET /subscribe/customers/{customer_uid}``).

        Raises BillingKeyNotFound, or another GatewayError.
        """
        return BillingKey.from_annotation(
            self._customer_call("get_billing_key", "GET", customer_uid)
        )

    def delete_billing_key(self, customer_uid: str, reason: str | None = None) -> BillingKey:
        """Delete a billing key (``DELETE /subscribe/customers/{customer_uid}``); return it.

        Raises BillingKeyNotFound, or another GatewayError.
        """
        params = {"reason": reason} if reason else None
        return BillingKey.from_annotation(
            self._customer_call("delete_billing_key", "DELETE", customer_uid, params)
        )

    def charge_billing_key(self, charge: Charge) -> ChargeResult:
        """Charge a billing key (``POST /subscribe/payments/again``), never sending it twice.

        Raises CardDeclined, BillingKeyNotFound, DuplicateMerchantUid, ChargeOutcomeUnknown
        (sent, but no answer and no payment record to be found), or another GatewayError.
        """
        try:
            data = self._call("charge", "POST", "/subscribe/payments/again", charge.as_body())
        except ProviderError as exc:
            return self._explain_refused_charge(charge, exc)
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            # The charge may have run: look for it instead of sending it again.
            return self._reconcile_charge(charge, exc)
        return _charge_result(Payment.from_annotation(data))

    def find_payment(self, merchant_uid: str) -> Payment | None:
        """The latest payment for ``merchant_uid`` (``GET /payments/find/{merchant_uid}``)."""
        try:
            return self._look_up_payment("find_payment", f"/payments/find/{_segment(merchant_uid)}")
        except PaymentNotFound:
            return None

    def get_payment(self, imp_uid: str) -> Payment:
        """Look up a payment (``GET /payments/{imp_uid}``); raise PaymentNotFound."""
        return self._look_up_payment("get_payment", f"/payments/{_segment(imp_uid)}")

    def cancel_payment(self, imp_uid: str, reason: str, amount: int | None = None) -> Payment:
        """Cancel all or ``amount`` of a payment (``POST /payments/cancel``); return it updated.

        Raises PaymentNotFound, NothingToCancel, CancelExceedsBalance, or another GatewayError.
        """
        payment = self.get_payment(imp_uid)
        # A partly cancelled payment may read "paid" or "cancelled": the balance decides.
        if payment.status not in ("paid", "cancelled") or payment.balance <= 0:
            raise NothingToCancel(f"The payment is {payment.status}: nothing is left to cancel.")
        if amount is not None and amount > payment.balance:
            raise CancelExceedsBalance(payment.balance)
        # checksum: I'mport refuses the cancel if the balance changed since we read it (a
        # concurrent cancel), instead of cancelling against a stale view.
        body: dict[str, Any] = {"imp_uid": imp_uid, "reason": reason, "checksum": payment.balance}
        if amount is not None:
            body["amount"] = amount
        try:
            return Payment.from_annotation(
                self._call("cancel_payment", "POST", "/payments/cancel", body)
            )
        except ProviderError as exc:
            if exc.http_status == 404:
                raise PaymentNotFound(exc.message, http_status=404, code=exc.code) from exc
            if exc.http_status is not None and exc.http_status < 300:  # 200 + code 1
                raise NothingToCancel(
                    exc.message, http_status=exc.http_status, code=exc.code
                ) from exc
            raise

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
        return Payment.from_annotation(data)

    def _customer_call(
        self,
        operation: str,
        method: str,
        customer_uid: str,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            return self._call(
                operation, method, f"/subscribe/customers/{_segment(customer_uid)}", params=params
            )
        except ProviderError as exc:
            # Observed: 200 with code 1 ("…찾을 수 없습니다"); I'mport's spec: 404. Both: absent.
            if exc.http_status is not None and (exc.http_status < 300 or exc.http_status == 404):
                raise BillingKeyNotFound(
                    exc.message, http_status=exc.http_status, code=exc.code
                ) from exc
            raise

    def _explain_refused_charge(self, charge: Charge, refusal: ProviderError) -> ChargeResult:
        """Tell a reused merchant_uid and an unknown customer from a decline.

        I'mport refuses all three with code != 0 and only a Korean message to tell them apart;
        asking it about the order and the key is sturdier than matching message texts.
        """
        earlier = self.find_payment(charge.merchant_uid)
        if earlier is not None and earlier.status in _HOLDS_MERCHANT_UID:
            return _settle_used_merchant_uid(earlier, charge, refusal, replayed=True)
        # The order may be hidden from us, or I'mport may also refuse reusing a failed
        # merchant_uid: its own words then are all there is, and a 409 is safer than a 402 that
        # would invite charging again under a new merchant_uid.
        if any(hint in refusal.message for hint in _DUPLICATE_HINTS):
            raise DuplicateMerchantUid(_DUPLICATE_MESSAGE) from refusal
        self.get_billing_key(charge.customer_uid)  # raises BillingKeyNotFound
        raise CardDeclined(
            refusal.message, http_status=refusal.http_status, code=refusal.code
        ) from refusal

    def _reconcile_charge(self, charge: Charge, cause: GatewayError) -> ChargeResult:
        """Settle a charge whose answer was lost from its payment record, if there is one."""
        unknown = (
            "The charge was sent but its outcome is unknown; retry with the same merchant_uid."
        )
        try:
            payment = self.find_payment(charge.merchant_uid)
        except GatewayError as exc:
            raise ChargeOutcomeUnknown(unknown) from exc
        if payment is None:
            raise ChargeOutcomeUnknown(unknown) from cause
        if payment.status in _HOLDS_MERCHANT_UID:
            return _settle_used_merchant_uid(payment, charge, cause, reconciled=True)
        return _charge_result(payment, reconciled=True)

    def _fetch_token(self) -> AccessToken:
        """Call ``POST /users/getToken``; I'mport answers 401 when the key or secret is wrong."""
        if self._observer is not None:
            self._notify(self._observer.on_token_fetch)
        try:
            data = self._request("get_token", "POST", "/users/getToken", self._credentials)
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
            return self._request(operation, method, path, body, params=params, token=token)
        except GatewayAuthFailed:
            # A 401 means I'mport did not run the call, so sending it again is safe.
            self._tokens.invalidate(token)
            return self._request(operation, method, path, body, params=params, token=self._token())

    def _token(self) -> str:
        try:
            return self._tokens.get()
        except GatewayError as exc:
            exc.request_sent = False  # the call that needed the token was never sent
            raise

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> Any:
        """Send one request and return the envelope's ``response``; the single choke point.

        I'mport wraps every answer, errors included, in ``{code, message, response}`` and reports
        most business failures as HTTP 200 with ``code != 0``: both the status and the code are
        checked, and the envelope is read on 4xx too. ``operation`` names the call for the
        observer (a fixed, low-cardinality name).
        """
        # time.monotonic, not the injected clock: that one measures token lifetimes (tests freeze
        # it), this one measures real waiting.
        started = time.monotonic()
        status: int | None = None
        outcome = "error"
        try:
            resp = self._send(method, path, body, params, token)
            status = resp.status
            try:
                raw_body = _read_body(resp, started + self._deadline, self._read_timeout)
            finally:
                # A body read to its end has already put the connection back in the pool
                # (urllib3 does so at EOF) and close() leaves it alone. Any other way out
                # (deadline, size cap, broken connection) close() shuts the socket, so a
                # connection with unread bytes in it is never reused, and release_conn() gives
                # the pool its slot back (it reconnects on the slot's next use).
                resp.close()
                resp.release_conn()
            result = _unwrap(status, raw_body)
            outcome = "ok"
            return result
        except GatewayError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            if self._observer is not None:
                self._notify(
                    self._observer.on_call,
                    operation,
                    outcome,
                    status,
                    time.monotonic() - started,
                )

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        token: str | None,
    ) -> urllib3.BaseHTTPResponse:
        """Send the request and return once the answer's status line and headers are in.

        urllib3 directly, not requests over it: requests' per-call work (merging session
        settings, cookies and hooks, scanning the environment for proxies) cost more CPU than
        everything else the service does for an issuance, and none of it is needed by a fixed
        JSON API with no cookies or redirects (the proxy is read once, by config.py).
        """
        headers = dict(_HEADERS)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request_id = REQUEST_ID.get()
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, allow_nan=False).encode()
        connections, prefix = self._connections()
        url = prefix + path + (f"?{urlencode(params)}" if params else "")
        try:
            return connections.urlopen(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=self._timeout,
                # Never sent twice behind the gateway's back: a charge must not run twice.
                retries=False,
                # A redirect would re-post card data to another host (OWASP API10).
                redirect=False,
                # Return once the headers are in: the body is read by the caller, against the
                # deadline and a size cap. (The status line and headers are read in here, where
                # each wait is bounded by the read timeout only: I'mport's front end sends them
                # in one piece. Cutting off a peer that trickles its headers would need a
                # socket-level hook inside urllib3's connection classes.)
                preload_content=False,
            )
        except NewConnectionError as exc:  # refused, unreachable, unknown host: nothing was sent
            raise GatewayUnavailable("I'mport could not be reached.", request_sent=False) from exc
        except ConnectTimeoutError as exc:
            raise GatewayTimeout("I'mport did not answer in time.", request_sent=False) from exc
        except ReadTimeoutError as exc:
            raise GatewayTimeout("I'mport did not answer in time.") from exc
        except (TransportError, OSError) as exc:  # reset, closed, TLS failure: maybe received
            raise GatewayUnavailable("I'mport could not be reached.") from exc

    @staticmethod
    def _notify(event: Callable[..., None], *args: Any) -> None:
        """Tell the observer; its failure must never change what a call returns or raises."""
        try:
            event(*args)
        except Exception:
            logger.exception("The I'mport call observer failed")

    def _connections(self) -> tuple[_Connections, str]:
        # A forked worker must not share its parent's sockets: one pool per process. Two threads
        # that both find none open one each, and the last one stays: no lock, so none can be
        # held across a fork. The pool itself is thread-safe and lends each call a connection.
        current = self._connections_of
        if current is None or current[0] != os.getpid():
            current = self._connections_of = (os.getpid(), *self._open_connections())
        return current[1], current[2]

    def _open_connections(self) -> tuple[_Connections, str]:
        options: dict[str, Any] = {"maxsize": _MAX_IDLE_CONNECTIONS, "block": False}
        if self.base_url.startswith("https:"):
            # certifi: the trust store requests would use, the same in every image.
            options["ca_certs"] = self._ca_bundle or certifi.where()
        if self._proxy_url is None:
            return urllib3.connection_from_url(self.base_url, **options), self._path_prefix
        # The manager tunnels https through the proxy (CONNECT) and asks it for plain http URLs
        # whole, with the proxy's credentials from its URL; calls name the whole URL.
        proxy = urllib3.util.parse_url(self._proxy_url)
        headers = urllib3.make_headers(proxy_basic_auth=proxy.auth) if proxy.auth else None
        manager = urllib3.ProxyManager(
            self._proxy_url, num_pools=1, proxy_headers=headers, **options
        )
        return manager, self.base_url


# Sent on every call. gzip: the body is read through urllib3's decoder, against the size cap.
_HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "billing-service",
}
# Connections are opened as calls need them; this bounds how many stay open between calls. It is
# well above a worker's default thread count (gunicorn.conf.py: 8), so a connection is not closed
# only because the pool was full (README: more than 32 threads still work, with fewer reuses).
_MAX_IDLE_CONNECTIONS = 32


# The most we read of one I'mport answer (after decompression); its largest real answers, a
# payment with its cancel history, are a few KiB.
MAX_RESPONSE_BYTES = 1 << 20
_READ_SIZE = 64 * 1024


def _read_body(resp: urllib3.BaseHTTPResponse, deadline: float, read_timeout: float) -> bytes:
    """Read the whole body by ``deadline`` (time.monotonic), at most MAX_RESPONSE_BYTES of it.

    ``read1`` returns whatever has arrived (at most one socket read) instead of waiting for a
    full buffer, so the clock is checked between every few bytes a slow peer sends; the socket
    timeout is cut to the time left, so the last wait ends at the deadline too. No thread or
    timer per call: a normal answer is already buffered with its headers and costs two read1
    calls and two clock reads.
    """
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise UnexpectedResponse("I'mport's answer is too large.")
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GatewayTimeout("I'mport did not answer in time.")
            if left < read_timeout:
                sock = getattr(resp.connection, "sock", None)
                if sock is not None:
                    # urllib3 sets the socket timeout again before the connection's next use.
                    sock.settimeout(left)
            chunk = resp.read1(min(_READ_SIZE, MAX_RESPONSE_BYTES + 1 - size), decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise UnexpectedResponse("I'mport's answer is too large.")
            chunks.append(chunk)
    except ReadTimeoutError as exc:
        raise GatewayTimeout("I'mport did not answer in time.") from exc
    except TransportError as exc:  # connection reset or closed mid-body, bad chunking or gzip
        raise GatewayUnavailable("I'mport's answer was cut off.") from exc


def _unwrap(status: int, raw_body: bytes) -> Any:
    """Check an answer's status and envelope; return the envelope's ``response``."""
    if status == 401:
        raise GatewayAuthFailed("I'mport refused our API credentials.", http_status=status)
    if status >= 500 or 300 <= status < 400:
        raise UnexpectedResponse(f"I'mport answered HTTP {status}.", http_status=status)
    try:
        # bytes: json detects UTF-8 (what I'mport sends), UTF-16/32 and a BOM by itself.
        envelope = json.loads(raw_body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        envelope = None
    if not isinstance(envelope, dict) or not _is_int(envelope.get("code")):
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


def _charge_result(payment: Payment, *, reconciled: bool = False) -> ChargeResult:
    """I'mport answers a declined charge with code 0 and a payment whose status is failed."""
    if payment.status == "paid":
        return ChargeResult(payment, reconciled=reconciled)
    if payment.status == "failed":
        raise CardDeclined(
            payment.fail_reason or "The card company declined the charge.", payment=payment
        )
    raise ChargeOutcomeUnknown(
        f"The payment is still {payment.status}; retry with the same merchant_uid."
    )


# I'mport refuses a merchant_uid held by a paid or cancelled payment; a failed one may be retried.
_HOLDS_MERCHANT_UID = ("paid", "cancelled")
# I'mport's refusal reads "이미 주문이 이루어진 건입니다.
# (동일한 merchant_uid로 결제 또는 취소된 기록이 있습니다)".
_DUPLICATE_HINTS = ("이미 주문", "동일한 merchant_uid")
_DUPLICATE_MESSAGE = "This merchant_uid was already used by another payment."


def _settle_used_merchant_uid(
    payment: Payment, charge: Charge, cause: Exception, **flags: bool
) -> ChargeResult:
    """The merchant_uid is taken: by this same charge (safe to answer with it), or a conflict."""
    same = payment.customer_uid == charge.customer_uid and payment.amount == charge.amount
    if payment.status == "paid" and same:
        return ChargeResult(payment, **flags)
    raise DuplicateMerchantUid(_DUPLICATE_MESSAGE) from cause


def _segment(value: str) -> str:
    """One URL path segment; callers validate that it is not "." or "..", which would collapse."""
    return quote(value, safe="")


def _dashed_card_number(digits: str) -> str:
    """I'mport documents card numbers as dddd-dddd-dddd-dddd; shorter ones end in a short group."""
    return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
