"""PortOne V2's cancels (``POST /payments/{paymentId}/cancel``), exactly once.

V1's ``checksum`` is V2's ``currentCancellableAmount``: the balance read before the first
attempt, sent unchanged by every retry, so PortOne refuses a cancel against a balance that moved
(``CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN``). A cancel names the attempt (``imp_uid``) it refunds:
while a later attempt holds its paymentId, there is nothing of it to cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..exceptions import (
    CancelExceedsBalance,
    CancelOutcomeUnknown,
    CancelPending,
    CancelRefused,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    NothingToCancel,
    PaymentNotFound,
    RequestOutstanding,
    UnexpectedResponse,
)
from ..models import CancelResult, Payment
from ..outcomes import BALANCE_MOVED, cancelled_since, nothing_to_cancel
from .answer import Refusal
from .parsing import cancellation_status
from .payments import OUTSTANDING_MESSAGE, PaymentCalls
from .session import segment

UNKNOWN_CANCEL = (
    "The cancel was sent but its outcome is unknown; retry with the same "
    "Idempotency-Key (a retry cannot refund twice)."
)
REPLACED_ATTEMPT = (
    "A later attempt under this payment's merchant_uid replaced it: nothing of it is left to "
    "cancel."
)
# Nothing (or not what this cancel was sent against) is left to cancel.
_NOTHING_LEFT = (
    "PAYMENT_ALREADY_CANCELLED",
    "PAYMENT_NOT_PAID",
    "CANCELLABLE_AMOUNT_CONSISTENCY_BROKEN",
)
# What the PG, or PortOne's tax and promotion rules, will not cancel: a final refusal.
_REFUSED = (
    "PG_PROVIDER",
    "NEGATIVE_PROMOTION_ADJUSTED_CANCEL_AMOUNT",
    "PROMOTION_DISCOUNT_RETAIN_OPTION_SHOULD_NOT_BE_CHANGED",
    "SUM_OF_PARTS_EXCEEDS_CANCEL_AMOUNT",
    "CANCEL_TAX_FREE_AMOUNT_EXCEEDS_CANCELLABLE_TAX_FREE_AMOUNT",
    "CANCEL_TAX_AMOUNT_EXCEEDS_CANCELLABLE_TAX_AMOUNT",
    "MAX_CANCEL_COUNT_REACHED",
)


class CancelCalls(PaymentCalls):
    """Cancel payments."""

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
        """Cancel all or ``amount`` of the attempt ``imp_uid``, exactly once; the arguments are
        ``IamportClient.cancel_payment``'s (``checksum``: ``currentCancellableAmount``).

        A ``SUCCEEDED`` cancellation is the payment read back; ``REQUESTED`` (PortOne settles
        it later) is CancelPending; ``FAILED``, a PG's refusal and the tax and promotion
        refusals are CancelRefused; a refusal saying nothing is left is NothingToCancel once the
        payment's history shows it is not this cancel's own first attempt (then ``replayed``).

        Raises PaymentNotFound, NothingToCancel, CancelRefused, CancelExceedsBalance,
        CancelPending, CancelOutcomeUnknown, RequestOutstanding, or another GatewayError.
        """
        began = time.time() if since is None else since
        payment = self._latest_attempt(imp_uid)
        if payment is None or (owned is not None and not owned(payment)):
            raise PaymentNotFound("There is no payment with this imp_uid.")
        if payment.imp_uid != imp_uid:
            # Never refund a later attempt (a paid retry of a declined one) in its name.
            raise NothingToCancel(REPLACED_ATTEMPT)
        if checksum is None:
            if (nothing := nothing_to_cancel(payment)) is not None:
                raise nothing
            if amount is not None and amount > payment.balance:
                raise CancelExceedsBalance(payment.balance)
            checksum = payment.balance
            if keep_checksum is not None:
                keep_checksum(checksum)
        expected = checksum if amount is None else amount
        if since is not None and cancelled_since(payment, expected, reason, began, checksum):
            return CancelResult(payment, replayed=True)
        body: dict[str, Any] = {"reason": reason, "currentCancellableAmount": checksum}
        if amount is not None:
            body["amount"] = amount
        if sending is not None:
            sending(checksum)
        path = f"/payments/{segment(payment.merchant_uid)}/cancel"
        attempt = _Attempt(imp_uid, expected, reason, began, checksum, since is not None)
        try:
            data = self._move("cancel_payment", path, body)
        except Refusal as exc:
            return self._explain_refused_cancel(attempt, exc)
        except (GatewayTimeout, GatewayUnavailable, UnexpectedResponse) as exc:
            if not exc.request_sent:
                raise
            return self._reconcile_cancel(attempt, exc)
        return self._settled_cancel(attempt, cancellation_status(data))

    def _settled_cancel(self, attempt: _Attempt, status: str) -> CancelResult:
        if status == "FAILED":
            raise CancelRefused("The card company refused the cancel.")
        try:
            payment = self.get_payment(attempt.imp_uid)
        except GatewayError as exc:  # it went through: a retry finds it in the history
            raise CancelOutcomeUnknown(UNKNOWN_CANCEL) from exc
        if status == "REQUESTED":
            raise CancelPending(payment)
        return CancelResult(payment)

    def _explain_refused_cancel(self, attempt: _Attempt, refusal: Refusal) -> CancelResult:
        kind = refusal.error_type
        if kind == "PAYMENT_NOT_FOUND":
            raise PaymentNotFound(refusal.message, http_status=404) from refusal
        if kind == "IDEMPOTENCY_OUTSTANDING_REQUEST":
            raise RequestOutstanding(OUTSTANDING_MESSAGE, http_status=409) from refusal
        if kind == "CANCEL_AMOUNT_EXCEEDS_CANCELLABLE_AMOUNT":
            raise CancelExceedsBalance(attempt.checksum) from refusal
        if kind in _REFUSED:
            raise CancelRefused(
                refusal.words, http_status=refusal.http_status, pg_code=refusal.pg_code
            ) from refusal
        if kind in _NOTHING_LEFT:
            now = self.get_payment(attempt.imp_uid)
            # A retry that lost the race with its own first attempt, gone through meanwhile.
            if attempt.retry and attempt.found_in(now):
                return CancelResult(now, replayed=True)
            raise (nothing_to_cancel(now) or NothingToCancel(BALANCE_MOVED)) from refusal
        if attempt.retry and refusal.http_status == 400:
            # A resumed attempt PortOne will not replay (its first may have run): look it up.
            return self._reconcile_cancel(attempt, refusal)
        raise refusal

    def _reconcile_cancel(self, attempt: _Attempt, cause: GatewayError) -> CancelResult:
        """Settle a cancel whose answer was lost from the payment's cancellations."""
        try:
            payment = self.get_payment(attempt.imp_uid)
        except GatewayError as exc:
            raise CancelOutcomeUnknown(UNKNOWN_CANCEL) from exc
        if attempt.found_in(payment):
            return CancelResult(payment, reconciled=True)
        raise CancelOutcomeUnknown(UNKNOWN_CANCEL) from cause


@dataclass(frozen=True)
class _Attempt:
    """One cancel as sent: what tells it apart in a payment's history (``retry``: its request
    was tried before)."""

    imp_uid: str
    amount: int
    reason: str
    began: float
    checksum: int
    retry: bool

    def found_in(self, payment: Payment) -> bool:
        return cancelled_since(payment, self.amount, self.reason, self.began, self.checksum)
