"""The I'mport (PortOne V1) operations: each a short method over the transport.

What an operation adds to the transport's call is I'mport's meaning of its answers: which refusal
is a rejected card, an unknown key or a duplicate order, and how a charge whose answer was lost
is settled without sending it twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

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
from .hooks import CallObserver
from .models import AccessToken, BillingKey, CardDetails, Charge, ChargeResult, Payment
from .parsing import parse_access_token, parse_billing_key, parse_payment
from .token import AccessTokenCache
from .transport import Transport


class IamportClient:
    """Calls I'mport with a cached access token, through one Transport.

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
        self._transport = Transport(
            base_url,
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
        return parse_billing_key(data)

    def get_billing_key(self, customer_uid: str) -> BillingKey:
        """Look up a billing key (``GET /subscribe/customers/{customer_uid}``).

        Raises BillingKeyNotFound, or another GatewayError.
        """
        return parse_billing_key(self._customer_call("get_billing_key", "GET", customer_uid))

    def delete_billing_key(self, customer_uid: str, reason: str | None = None) -> BillingKey:
        """Delete a billing key (``DELETE /subscribe/customers/{customer_uid}``); return it.

        Raises BillingKeyNotFound, or another GatewayError.
        """
        params = {"reason": reason} if reason else None
        return parse_billing_key(
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
        return _charge_result(parse_payment(data))

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
            return parse_payment(self._call("cancel_payment", "POST", "/payments/cancel", body))
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
