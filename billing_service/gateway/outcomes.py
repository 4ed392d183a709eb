"""What a payment says of a charge or a cancel: the rules the operations apply to settle an
answer, a refusal or a lost answer from the payment the provider shows.

Pure functions over the models (Payment, Charge): no call is made here and no provider package
is imported, so a second provider reuses them once its payments are read into the models. The
I'mport behaviour a rule leans on (whole-second stamps, which statuses hold an order) is noted
where it is used.
"""

from __future__ import annotations

import math

from .exceptions import (
    CancelRefused,
    CardDeclined,
    ChargeOutcomeUnknown,
    ChargePending,
    DuplicateMerchantUid,
    NothingToCancel,
    ProviderError,
)
from .models import Cancellation, Charge, ChargeResult, Payment

# I'mport refuses a merchant_uid held by a paid or cancelled payment; a failed one may be retried.
HOLDS_MERCHANT_UID = ("paid", "cancelled")
DUPLICATE_MESSAGE = "This merchant_uid was already used by another payment."
BALANCE_MOVED = (
    "The payment's balance changed since this cancel was first tried: "
    "look the payment up before cancelling again."
)
# I'mport stamps cancels in whole seconds, by its own (NTP-synchronised) clock.
CLOCK_SLACK = 5.0


def charge_result(payment: Payment, *, reconciled: bool = False) -> ChargeResult:
    """I'mport answers a declined charge with code 0 and a payment whose status is failed."""
    if payment.status == "paid":
        return ChargeResult(payment, reconciled=reconciled)
    if payment.status == "failed":
        raise CardDeclined(
            payment.fail_reason or "The card company declined the charge.",
            payment=payment,
            pg_code=payment.pg_code,
        )
    if payment.status == "ready":
        raise ChargePending(payment, reconciled=reconciled)
    raise ChargeOutcomeUnknown(
        f"The payment is still {payment.status}; retry with the same merchant_uid."
    )


def settle_used_merchant_uid(
    payment: Payment, charge: Charge, cause: Exception, **flags: bool
) -> ChargeResult:
    """The merchant_uid is taken: by this same charge (safe to answer with it), or a conflict."""
    same = payment.customer_uid == charge.customer_uid and payment.amount == charge.amount
    if payment.status == "paid" and same:
        return ChargeResult(payment, **flags)
    raise DuplicateMerchantUid(DUPLICATE_MESSAGE) from cause


def charged_to(payment: Payment, customer_uid: str) -> bool:
    """Whether ``payment`` can be a charge of ``customer_uid``'s billing key: another
    customer's payment, or a browser checkout paid under a merchant_uid one of our charges once
    used, is never that charge's outcome."""
    return payment.customer_uid == customer_uid and payment.by_billing_key


# The ``seen`` of a charge sent without looking its merchant_uid up first.
NOT_LOOKED_UP = "(not looked up)"


def declined_before(payment: Payment, seen: str | None, sent_at: float) -> bool:
    """Whether ``payment``, found after a charge was sent, is an earlier attempt's decline and
    so not that charge's outcome.

    ``seen``: the imp_uid found under the merchant_uid just before sending (None: none), or
    NOT_LOOKED_UP when the host remembers no earlier attempt of the order (it remembers each
    one, but a paid one, for days). Looked up, the payment seen then is the earlier one,
    whatever its stamp: I'mport stamps whole seconds, and a charge sent again in the second of
    its decline shares that second. Not looked up, only a decline from before the second the
    charge was sent in is older (one of that very second is this charge's: a clock of
    I'mport's behind ours would make it look earlier).
    """
    if payment.status != "failed":
        return False
    if seen != NOT_LOOKED_UP:
        return payment.imp_uid == seen
    return failed_before(payment, sent_at)


def failed_before(payment: Payment, sent_at: float) -> bool:
    """Whether ``payment`` failed before the second in which ``sent_at`` falls."""
    return (
        payment.status == "failed"
        and payment.failed_at is not None
        and payment.failed_at.timestamp() < math.floor(sent_at)
    )


def cancelled_since(
    payment: Payment, amount: int, reason: str, since: float, balance_before: int
) -> bool:
    """Whether the payment's history has this cancel: ``amount`` for ``reason`` since ``since``,
    made against ``balance_before`` (the checksum its first attempt kept).

    The balance before an entry tells two cancels of the same amount and reason apart: each was
    sent against the balance its own first attempt read.
    """
    left = payment.amount
    for entry in _in_order(payment.cancel_history):
        if (
            entry.amount == amount
            and entry.reason == reason
            and left == balance_before
            and entry.cancelled_at is not None
            and entry.cancelled_at.timestamp() >= math.floor(since) - CLOCK_SLACK
        ):
            return True
        left -= entry.amount
    return False


def nothing_to_cancel(payment: Payment) -> NothingToCancel | None:
    """The refusal of a payment with nothing left to cancel; None if something is left."""
    # A partly cancelled payment may read "paid" or "cancelled": the balance decides.
    if payment.status not in ("paid", "cancelled") or payment.balance <= 0:
        return NothingToCancel(f"The payment is {payment.status}: nothing is left to cancel.")
    return None


def refused_cancel(payment: Payment, checksum: int, refusal: ProviderError) -> ProviderError:
    """What a cancel refused with code != 0 means, from the payment as it is now.

    I'mport refuses with the same envelope a payment with nothing left, a stale checksum and a
    cancel its PG turned down (partial cancels not allowed, the window passed, ...).
    """
    if (nothing := nothing_to_cancel(payment)) is not None:
        return nothing
    if payment.balance != checksum:
        return NothingToCancel(BALANCE_MOVED)
    return CancelRefused(refusal.message, http_status=refusal.http_status, code=refusal.code)


def _in_order(history: tuple[Cancellation, ...]) -> list[Cancellation]:
    """Oldest first (a stable sort: entries of one second keep I'mport's order)."""
    return sorted(history, key=lambda e: e.cancelled_at.timestamp() if e.cancelled_at else 0.0)


def notice_agrees(
    payment: Payment, merchant_uid: str | None, status: str | None, cancellation_id: str | None
) -> bool:
    """Whether a notice's ids and status (a cancel's: the one ``cancellation_id`` names, else
    any) are what the payment shows."""
    if merchant_uid is not None and merchant_uid != payment.merchant_uid:
        return False
    if status == "cancelled":
        if cancellation_id is not None:
            return any(c.cancellation_id == cancellation_id for c in payment.cancel_history)
        return payment.cancel_amount > 0
    return status == payment.status
