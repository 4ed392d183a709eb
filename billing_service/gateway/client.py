"""The I'mport (PortOne V1) operations: each a short method over the transport.

What an operation adds to the transport's call is I'mport's meaning of its answers: which refusal
is a rejected card, an unknown key or a duplicate order, and how a charge whose answer was lost
is settled without sending it twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from .exceptions import (
    BillingKeyNotFound,
    CancelExceedsBalance,
    CancelOutcomeUnknown,
    CardDeclined,
    CardRejected,
    ChargeOutcomeUnknown,
    ChargePending,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentNotFound,
    ProviderError,
    ScheduleNotFound,
    ScheduleNotRevocable,
    ScheduleOutcomeUnknown,
    ScheduleRefused,
    SchedulesPending,
    UnexpectedResponse,
    UnknownBillingKeyRefusal,
)
from .hooks import CallObserver
from .models import (
    AccessToken,
    BillingKey,
    CancelResult,
    CardDetails,
    Charge,
    ChargeResult,
    Payment,
    Schedule,
    ScheduledCharge,
    ScheduleResult,
)
from .outcomes import (
    DUPLICATE_HINTS,
    DUPLICATE_MESSAGE,
    HOLDS_MERCHANT_UID,
    NOT_LOOKED_UP,
    cancelled_since,
    charge_result,
    declined_before,
    nothing_to_cancel,
    refused_cancel,
    settle_used_merchant_uid,
)
from .parsing import (
    parse_access_token,
    parse_billing_key,
    parse_payment,
    parse_schedule,
    parse_schedules,
)
from .token import AccessTokenCache
from .transport import Transport

# How far ahead charges may be scheduled: far enough for a yearly plan, and short enough that a
# key's pending schedules are found in a few of I'mport's 90-day windows before it is deleted.
SCHEDULE_HORIZON = timedelta(days=366)
SCHEDULE_WINDOW = timedelta(days=90)
# Pages of a schedule listing followed at most (I'mport pages them by 20 by default).
MAX_SCHEDULE_PAGES = 10


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
        channel_key: str | None = None,
    ) -> None:
        # The console channel to use, unless a call names its own (I'mport's spec marks it
        # required on issuance since 2026-05; older integrations send pg instead).
        self._channel_key = channel_key
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
            **self._channel(None),
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

    def delete_billing_key(
        self, customer_uid: str, reason: str | None = None, *, revoke_schedules: bool = False
    ) -> BillingKey:
        """Delete a billing key (``DELETE /subscribe/customers/{customer_uid}``); return it.

        A key with scheduled charges is not deleted (SchedulesPending; PortOne V2's rule, V1's
        being undocumented) unless ``revoke_schedules``, which revokes them first.

        Raises BillingKeyNotFound, SchedulesPending, or another GatewayError.
        """
        if self.pending_schedules(customer_uid):
            if not revoke_schedules:
                raise SchedulesPending("The billing key still has scheduled charges.")
            self.revoke_customer_schedules(customer_uid)
        params = {"reason": reason} if reason else None
        return parse_billing_key(
            self._customer_call("delete_billing_key", "DELETE", customer_uid, params)
        )

    def charge_billing_key(self, charge: Charge, *, pending: bool = False) -> ChargeResult:
        """Charge a billing key (``POST /subscribe/payments/again``), never sending it twice.

        ``pending``: an earlier attempt of this merchant_uid is remembered (it may be ``ready``,
        or its outcome unknown): it is looked up first and the charge is sent only if that one
        failed; a decline found after a lost answer is then this charge's only if it is not
        the payment seen before sending (I'mport stamps whole seconds: a charge sent again in
        the second of its decline cannot be told from it by time).

        Raises ChargePending (I'mport left it ``ready``), CardDeclined, BillingKeyNotFound,
        DuplicateMerchantUid, ChargeOutcomeUnknown (sent, but no answer and no payment record
        to be found), or another GatewayError.
        """
        seen: str | None = NOT_LOOKED_UP  # the payment under the merchant_uid before sending
        if pending:
            earlier = self._find_charge(charge)
            seen = earlier.imp_uid if earlier is not None else None
            if earlier is not None and earlier.status == "ready":
                raise ChargePending(earlier)
            if earlier is not None and earlier.status in HOLDS_MERCHANT_UID:
                return settle_used_merchant_uid(
                    earlier, charge, DuplicateMerchantUid(DUPLICATE_MESSAGE), replayed=True
                )
        sent_at = time.time()
        try:
            body = {**self._channel(charge.channel_key), **charge.as_body()}
            # Parsed in here: an answer I'mport sent with code 0 but in a shape we cannot read
            # is a charge that may have run, to be looked up like a lost one.
            payment = parse_payment(self._call("charge", "POST", "/subscribe/payments/again", body))
        except ProviderError as exc:
            return self._explain_refused_charge(charge, exc)
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            # The charge may have run: look for it instead of sending it again.
            return self._reconcile_charge(charge, sent_at, seen, exc)
        return charge_result(payment)

    def find_payment(self, merchant_uid: str) -> Payment | None:
        """The latest payment for ``merchant_uid`` (``GET /payments/find/{merchant_uid}``)."""
        try:
            return self._look_up_payment("find_payment", f"/payments/find/{_segment(merchant_uid)}")
        except PaymentNotFound:
            return None

    def _find_charge(self, charge: Charge) -> Payment | None:
        """The latest payment for the charge's merchant_uid if it is the charge's customer's:
        another customer's payment is never this charge's outcome, and is not shown (as if it
        did not exist) to a caller that may not own it."""
        payment = self.find_payment(charge.merchant_uid)
        # A browser checkout paid under a merchant_uid one of our charges once used is not ours.
        if payment is None or payment.customer_uid != charge.customer_uid:
            return None
        if not payment.by_billing_key:
            return None
        return payment

    def get_payment(self, imp_uid: str) -> Payment:
        """Look up a payment (``GET /payments/{imp_uid}``); raise PaymentNotFound."""
        return self._look_up_payment("get_payment", f"/payments/{_segment(imp_uid)}")

    def cancel_payment(
        self,
        imp_uid: str,
        reason: str,
        amount: int | None = None,
        *,
        checksum: int | None = None,
        since: float | None = None,
        keep_checksum: Callable[[int], None] | None = None,
        sending: Callable[[int], None] | None = None,
        owned: Callable[[Payment], bool] | None = None,
    ) -> CancelResult:
        """Cancel all or ``amount`` of a payment (``POST /payments/cancel``), exactly once.

        The balance read first is sent as I'mport's ``checksum``, so I'mport refuses a cancel
        against a stale balance; ``keep_checksum`` is given it before the cancel is sent. A
        retry passes that ``checksum`` back and ``since`` (when its first attempt began): a
        cancel with the same amount and reason, made against that balance, in the payment's
        history since then is that attempt, answered as ``replayed``. A cancel whose answer was
        lost is looked up the same way, never sent again: found, it is ``reconciled``; else
        CancelOutcomeUnknown. ``sending`` (optional) is given the checksum right before the
        cancel is sent (if it raises, nothing is sent). A refusal is explained by looking the
        payment up: a retry's first attempt found there (it went through while the retry was
        sent) is ``replayed``; nothing left, or a balance moved since the first attempt, is
        NothingToCancel; a balance still there was refused by I'mport or its PG: CancelRefused.
        ``owned`` (optional) hides payments the caller may not touch (PaymentNotFound).

        Raises PaymentNotFound, NothingToCancel, CancelRefused, CancelExceedsBalance,
        CancelOutcomeUnknown, or another GatewayError.
        """
        began = time.time() if since is None else since
        payment = self.get_payment(imp_uid)
        if owned is not None and not owned(payment):
            raise PaymentNotFound("There is no payment with this imp_uid.")
        if checksum is None:
            if (nothing := nothing_to_cancel(payment)) is not None:
                raise nothing
            if amount is not None and amount > payment.balance:
                raise CancelExceedsBalance(payment.balance)
            checksum = payment.balance
            if keep_checksum is not None:
                keep_checksum(checksum)
        # A cancel without amount cancels the balance it was sent against: the checksum.
        expected = checksum if amount is None else amount
        if since is not None and cancelled_since(payment, expected, reason, began, checksum):
            return CancelResult(payment, replayed=True)
        body: dict[str, Any] = {"imp_uid": imp_uid, "reason": reason, "checksum": checksum}
        if amount is not None:
            body["amount"] = amount
        if sending is not None:
            sending(checksum)
        try:
            updated = parse_payment(self._call("cancel_payment", "POST", "/payments/cancel", body))
        except ProviderError as exc:
            if exc.http_status == 404:
                raise PaymentNotFound(exc.message, http_status=404, code=exc.code) from exc
            if exc.http_status is None or exc.http_status >= 300:
                raise
            # 200 + code != 0: what it means is read from the payment as it is now.
            now = self.get_payment(imp_uid)
            # A retry that lost the race with its own first attempt, gone through meanwhile.
            if since is not None and cancelled_since(now, expected, reason, began, checksum):
                return CancelResult(now, replayed=True)
            raise refused_cancel(now, checksum, exc) from exc
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            return self._reconcile_cancel(imp_uid, expected, reason, began, checksum, exc)
        return CancelResult(updated)

    def _reconcile_cancel(
        self,
        imp_uid: str,
        amount: int,
        reason: str,
        began: float,
        checksum: int,
        cause: GatewayError,
    ) -> CancelResult:
        """Settle a cancel whose answer was lost from the payment's cancel history."""
        unknown = (
            "The cancel was sent but its outcome is unknown; retry with the same "
            "Idempotency-Key (a retry cannot refund twice)."
        )
        try:
            payment = self.get_payment(imp_uid)
        except GatewayError as exc:
            raise CancelOutcomeUnknown(unknown) from exc
        if cancelled_since(payment, amount, reason, began, checksum):
            return CancelResult(payment, reconciled=True)
        raise CancelOutcomeUnknown(unknown) from cause

    def schedule_charges(
        self,
        customer_uid: str,
        charges: Sequence[ScheduledCharge],
        *,
        channel_key: str | None = None,
    ) -> ScheduleResult:
        """Schedule charges of a key (``POST /subscribe/payments/schedule``), never twice.

        A refusal is explained by asking I'mport, as for charges: every merchant_uid already
        scheduled as asked, for this customer, is this request retried (``replayed``); one
        already used is DuplicateMerchantUid; an unknown key UnknownBillingKeyRefusal and
        anything else ScheduleRefused, both with I'mport's words. A lost answer is looked up,
        never sent again.

        Raises those, ScheduleOutcomeUnknown, or another GatewayError.
        """
        body = {
            "customer_uid": customer_uid,
            "schedules": [charge.as_body() for charge in charges],
            **self._channel(channel_key),
        }
        try:
            data = self._call("schedule", "POST", "/subscribe/payments/schedule", body)
        except ProviderError as exc:
            if exc.http_status is None or (exc.http_status >= 300 and exc.http_status != 400):
                raise
            return self._explain_refused_schedule(customer_uid, charges, exc)
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            try:
                found = self._scheduled_as_asked(customer_uid, charges)
            except GatewayError as lookup:
                raise ScheduleOutcomeUnknown(_SCHEDULE_UNKNOWN) from lookup
            if found is None:
                raise ScheduleOutcomeUnknown(_SCHEDULE_UNKNOWN) from exc
            return ScheduleResult(found, reconciled=True)
        return ScheduleResult(parse_schedules(data))

    def get_schedule(self, merchant_uid: str) -> Schedule:
        """Look up a schedule (``GET /subscribe/payments/schedule/{merchant_uid}``).

        Raises ScheduleNotFound, or another GatewayError.
        """
        path = f"/subscribe/payments/schedule/{_segment(merchant_uid)}"
        try:
            return parse_schedule(self._call("get_schedule", "GET", path))
        except ProviderError as exc:  # the spec and the observed client tests: 404
            if exc.http_status == 404 or (exc.http_status is not None and exc.http_status < 300):
                raise ScheduleNotFound(
                    exc.message, http_status=exc.http_status, code=exc.code
                ) from exc
            raise

    def list_schedules(
        self,
        customer_uid: str,
        start: datetime,
        end: datetime,
        status: str | None = None,
        *,
        max_pages: int = MAX_SCHEDULE_PAGES,
    ) -> tuple[list[Schedule], bool]:
        """A customer's schedules between ``start`` and ``end`` (at most 90 days apart, I'mport's
        limit), following I'mport's pages up to ``max_pages``; and whether all were read.

        Calls ``GET /subscribe/payments/schedule/customers/{customer_uid}``.
        """
        path = f"/subscribe/payments/schedule/customers/{_segment(customer_uid)}"
        params = {"from": str(int(start.timestamp())), "to": str(int(end.timestamp()))}
        if status is not None:
            params["schedule-status"] = status  # sic: a hyphen
        schedules: list[Schedule] = []
        for page in range(1, max_pages + 1):
            try:
                data = self._call(
                    "list_schedules", "GET", path, params={**params, "page": str(page)}
                )
            except ProviderError as exc:
                if exc.http_status == 404:  # a customer with none
                    return schedules, True
                raise
            items = data.get("list") if isinstance(data, dict) else None
            schedules.extend(parse_schedules(items))
            if not data.get("next"):
                return schedules, True
        return schedules, False

    def pending_schedules(self, customer_uid: str) -> list[Schedule]:
        """The customer's schedules still to run, from now to SCHEDULE_HORIZON ahead (the
        service refuses to schedule further), in windows of I'mport's 90-day limit."""
        pending: list[Schedule] = []
        start = datetime.now(UTC)
        end = start + SCHEDULE_HORIZON
        while start < end:
            stop = min(start + SCHEDULE_WINDOW, end)
            found, _ = self.list_schedules(customer_uid, start, stop, "scheduled")
            pending.extend(found)
            start = stop
        return pending

    def revoke_schedule(self, merchant_uid: str) -> Schedule:
        """Revoke one scheduled charge (``POST /subscribe/payments/unschedule``).

        Raises ScheduleNotFound, ScheduleNotRevocable (executed or revoked already), or
        another GatewayError.
        """
        try:
            data = self._call(
                "revoke_schedules",
                "POST",
                "/subscribe/payments/unschedule",
                {"merchant_uid": [merchant_uid]},
            )
        except ProviderError as exc:
            if exc.http_status is None or exc.http_status >= 300:
                raise
            schedule = self.get_schedule(merchant_uid)  # raises ScheduleNotFound
            raise ScheduleNotRevocable(
                f"The schedule is {schedule.schedule_status}: nothing is left to revoke."
            ) from exc
        [revoked] = parse_schedules(data) or [self.get_schedule(merchant_uid)]
        return revoked

    def revoke_customer_schedules(self, customer_uid: str) -> list[Schedule]:
        """Revoke every scheduled charge of a customer; [] when none was pending."""
        try:
            data = self._call(
                "revoke_schedules",
                "POST",
                "/subscribe/payments/unschedule",
                {"customer_uid": customer_uid},
            )
        except ProviderError as exc:  # 200 + code 1: nothing to revoke
            if exc.http_status is not None and exc.http_status < 300:
                return []
            raise
        return parse_schedules(data)

    def _explain_refused_schedule(
        self, customer_uid: str, charges: Sequence[ScheduledCharge], refusal: ProviderError
    ) -> ScheduleResult:
        found = self._scheduled_as_asked(customer_uid, charges)
        if found is not None:
            return ScheduleResult(found, replayed=True)
        for charge in charges:
            earlier = self.find_payment(charge.merchant_uid)
            if earlier is not None and earlier.status in HOLDS_MERCHANT_UID:
                raise DuplicateMerchantUid(DUPLICATE_MESSAGE) from refusal
            try:
                self.get_schedule(charge.merchant_uid)
            except ScheduleNotFound:
                continue
            raise DuplicateMerchantUid(DUPLICATE_MESSAGE) from refusal
        self._refuse_if_no_key(customer_uid, refusal)
        raise ScheduleRefused(
            refusal.message, http_status=refusal.http_status, code=refusal.code
        ) from refusal

    def _refuse_if_no_key(self, customer_uid: str, refusal: ProviderError) -> None:
        """Raise UnknownBillingKeyRefusal with I'mport's refusal if the customer has no key."""
        try:
            self.get_billing_key(customer_uid)
        except BillingKeyNotFound as exc:
            raise UnknownBillingKeyRefusal(
                refusal.message, http_status=refusal.http_status, code=refusal.code
            ) from exc

    def _scheduled_as_asked(
        self, customer_uid: str, charges: Sequence[ScheduledCharge]
    ) -> list[Schedule] | None:
        """The schedules, if every charge is scheduled as asked; else None."""
        found = []
        for charge in charges:
            try:
                schedule = self.get_schedule(charge.merchant_uid)
            except ScheduleNotFound:
                return None
            as_asked = (
                schedule.customer_uid == customer_uid
                and schedule.amount == charge.amount
                and int(schedule.schedule_at.timestamp()) == int(charge.schedule_at.timestamp())
            )
            if not as_asked:
                return None
            found.append(schedule)
        return found

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
        earlier = self._find_charge(charge)
        if earlier is not None and earlier.status in HOLDS_MERCHANT_UID:
            return settle_used_merchant_uid(earlier, charge, refusal, replayed=True)
        # An earlier attempt still being processed: this refusal says nothing of its outcome.
        if earlier is not None and earlier.status == "ready":
            raise ChargePending(earlier) from refusal
        # The order may be hidden from us, or I'mport may also refuse reusing a failed
        # merchant_uid: its own words then are all there is, and a 409 is safer than a 402 that
        # would invite charging again under a new merchant_uid.
        if any(hint in refusal.message for hint in DUPLICATE_HINTS):
            raise DuplicateMerchantUid(DUPLICATE_MESSAGE) from refusal
        self._refuse_if_no_key(charge.customer_uid, refusal)
        raise CardDeclined(
            refusal.message, http_status=refusal.http_status, code=refusal.code
        ) from refusal

    def _reconcile_charge(
        self, charge: Charge, sent_at: float, seen: str | None, cause: GatewayError
    ) -> ChargeResult:
        """Settle a charge whose answer was lost from its own payment record, if there is one
        (an earlier attempt's decline of the merchant_uid is not this charge's outcome);
        ``seen``: the imp_uid found under the merchant_uid before sending (see declined_before)."""
        unknown = (
            "The charge was sent but its outcome is unknown; retry with the same merchant_uid."
        )
        try:
            payment = self._find_charge(charge)
        except GatewayError as exc:
            raise ChargeOutcomeUnknown(unknown) from exc
        if payment is None or declined_before(payment, seen, sent_at):
            raise ChargeOutcomeUnknown(unknown) from cause
        if payment.status in HOLDS_MERCHANT_UID:
            return settle_used_merchant_uid(payment, charge, cause, reconciled=True)
        return charge_result(payment, reconciled=True)

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


_SCHEDULE_UNKNOWN = (
    "The schedule was sent but its outcome is unknown; retry with the same merchant_uids."
)


def _segment(value: str) -> str:
    """One URL path segment; callers validate that it is not "." or "..", which would collapse."""
    return quote(value, safe="")


def _dashed_card_number(digits: str) -> str:
    """I'mport documents card numbers as dddd-dddd-dddd-dddd; shorter ones end in a short group."""
    return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
