"""Exceptions raised by the gateway, whichever the provider, from the most general to the most
specific (the messages say "I'mport"; under PortOne V2 they carry PortOne's words where it gives
them)."""

from __future__ import annotations

from typing import Any

from .models import Payment


class GatewayError(Exception):
    """I'mport could not do what was asked.

    ``message`` is safe to show a caller: it never holds card data, tokens or secrets.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        request_sent: bool = True,
        pg_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        # I'mport V1's envelope code; PortOne V2 has none (its refusals are typed by HTTP status
        # and error type) but passes on the PG's own code, ``pg_code``, on a PG's refusal.
        self.code = code
        self.pg_code = pg_code
        # False only when the connection failed before anything was sent: I'mport did nothing.
        self.request_sent = request_sent

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, "
            f"http_status={self.http_status!r}, code={self.code!r}, pg_code={self.pg_code!r})"
        )


class GatewayUnavailable(GatewayError):
    """The connection to I'mport was refused, reset or lost."""


class GatewayTimeout(GatewayError):
    """I'mport did not answer within the connect or read timeout."""


class GatewayAuthFailed(GatewayError):
    """I'mport refused our REST API key and secret, or kept refusing our access token."""


class UnexpectedResponse(GatewayError):
    """I'mport answered with a 5xx, a redirect, a body that is not JSON or an unexpected shape."""


class ProviderError(GatewayError):
    """I'mport refused the request, mostly by answering with its envelope's ``code`` != 0."""


class RequestNotSupported(GatewayError):
    """The configured provider cannot take one field of the request as given (PortOne V2: a
    currency other than KRW, a ``notice_url``): nothing was sent. ``field`` names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, request_sent=False)
        self.field = field


class CardRejected(ProviderError):
    """I'mport (or the PG behind it) refused to issue a billing key for the card."""


class BillingKeyNotFound(ProviderError):
    """I'mport has no billing key under that customer_uid."""


class UnknownBillingKeyRefusal(BillingKeyNotFound):
    """I'mport refused a charge or a schedule, and has no billing key under that customer_uid:
    ``message`` and ``code`` are its refusal's."""


class PaymentNotFound(ProviderError):
    """I'mport has no payment with that imp_uid."""


class CardDeclined(ProviderError):
    """The card company declined a charge; ``payment``: the failed payment, if I'mport kept one."""

    def __init__(self, message: str, *, payment: Payment | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.payment = payment


class DuplicateMerchantUid(ProviderError):
    """The merchant_uid was already used by a paid or cancelled payment that this charge is not."""


class NothingToCancel(ProviderError):
    """The payment has nothing left to cancel (fully cancelled, failed, or never paid)."""


class CancelRefused(ProviderError):
    """I'mport (or its PG) refused a cancel of a payment whose balance is still there: partial
    cancels not allowed, the cancel window passed, ... ``message`` and ``code`` are I'mport's."""


class CancelExceedsBalance(GatewayError):
    """The amount to cancel is more than what is left of the payment."""

    def __init__(self, balance: int) -> None:
        super().__init__(f"At most {balance} is left to cancel.")
        self.balance = balance


class ChargeOutcomeUnknown(GatewayTimeout):
    """A charge was sent but neither its answer nor its payment record could be read.

    Retrying with the same merchant_uid is safe: I'mport refuses a second charge for it.
    """


class ChargePending(GatewayError):
    """I'mport left the charge ``ready``: its outcome is not known yet.

    Not a failure to retry under a new merchant_uid: that could charge twice. Follow it up with
    its merchant_uid (a charge retried with it is looked up, not sent, while it is ready).
    """

    def __init__(self, payment: Payment, *, reconciled: bool = False) -> None:
        super().__init__("I'mport has not settled the charge yet; follow it up by merchant_uid.")
        self.payment = payment
        self.reconciled = reconciled


class CancelPending(GatewayError):
    """The provider accepted the cancel but settles it later (PortOne V2's ``REQUESTED``
    cancellation): follow the payment up, as a pending charge is."""

    def __init__(self, payment: Payment) -> None:
        super().__init__("PortOne has not settled the cancel yet; follow the payment up.")
        self.payment = payment


class KeyNotRemembered(GatewayError):
    """The provider issued a key the service could not record as the customer's current one
    (its state store failed): not answered, so that the key it replaced is never charged; a
    retry with the same Idempotency-Key gets the same key from the provider and records it."""


class RequestOutstanding(GatewayError):
    """The provider is still running an earlier attempt of this very request (PortOne V2's 409
    ``IDEMPOTENCY_OUTSTANDING_REQUEST`` to the same Idempotency-Key): retry it later as is."""


class CancelOutcomeUnknown(GatewayTimeout):
    """A cancel was sent, its answer was lost, and the payment shows no such cancel (yet).

    Retrying with the same Idempotency-Key is safe: the retry sends the checksum of the first
    attempt, which I'mport refuses if that attempt went through.
    """


class ScheduleNotFound(ProviderError):
    """I'mport has no schedule with that merchant_uid."""


class ScheduleNotRevocable(ProviderError):
    """The schedule was executed (or revoked) already: there is nothing left to revoke."""


class ScheduleRefused(ProviderError):
    """I'mport refused to schedule, for a reason other than an unknown key or a duplicate."""


class SchedulesPending(GatewayError):
    """The billing key still has scheduled charges (delete with revoke_schedules=true)."""


class ScheduleOutcomeUnknown(GatewayTimeout):
    """Charges were sent to be scheduled, and neither the answer nor the schedules could be
    read. Retrying with the same merchant_uids is safe: I'mport refuses a merchant_uid twice."""
