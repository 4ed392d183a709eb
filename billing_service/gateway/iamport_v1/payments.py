"""I'mport's payments: charge a billing key, find and look up payments, cancel them.

What a call adds to the transport's is I'mport's meaning of its answers: which refusal is a
declined card, an unknown key or a duplicate order (only a Korean message tells them apart), and
how a charge or cancel whose answer was lost is settled (``outcomes``) without sending it twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..exceptions import (
    CancelExceedsBalance,
    CancelOutcomeUnknown,
    CardDeclined,
    ChargeOutcomeUnknown,
    ChargePending,
    DuplicateMerchantUid,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentNotFound,
    ProviderError,
    UnexpectedResponse,
)
from ..models import CancelResult, Charge, ChargeResult, Payment
from ..outcomes import (
    DUPLICATE_MESSAGE,
    HOLDS_MERCHANT_UID,
    NOT_LOOKED_UP,
    cancelled_since,
    charge_result,
    charged_to,
    declined_before,
    nothing_to_cancel,
    refused_cancel,
    settle_used_merchant_uid,
)
from .billing_keys import BillingKeyCalls
from .parsing import parse_payment
from .session import segment

# I'mport's refusal of a used merchant_uid reads "이미 주문이 이루어진 건입니다.
# (동일한 merchant_uid로 결제 또는 취소된 기록이 있습니다)".
DUPLICATE_HINTS = ("이미 주문", "동일한 merchant_uid")


class PaymentCalls(BillingKeyCalls):
    """Charge, find, look up and cancel payments."""

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
            return self._look_up_payment("find_payment", f"/payments/find/{segment(merchant_uid)}")
        except PaymentNotFound:
            return None

    def _find_charge(self, charge: Charge) -> Payment | None:
        """The latest payment for the charge's merchant_uid if it is the charge's customer's:
        another customer's payment is never this charge's outcome, and is not shown (as if it
        did not exist) to a caller that may not own it."""
        payment = self.find_payment(charge.merchant_uid)
        return payment if payment is not None and charged_to(payment, charge.customer_uid) else None

    def get_payment(self, imp_uid: str) -> Payment:
        """Look up a payment (``GET /payments/{imp_uid}``); raise PaymentNotFound."""
        return self._look_up_payment("get_payment", f"/payments/{segment(imp_uid)}")

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
