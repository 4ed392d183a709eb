"""The provider-neutral gateway: what the routes and the event publisher ask of a payment
provider, whichever one answers (I'mport V1, ``iamport_v1.IamportClient``; PortOne V2,
``portone_v2.PortOneClient``).

Written against the V1 → V2 mapping (``portone-v2-api.md`` §7), in the service's own terms:

- ``customer_uid``: the caller's id of a billing key. V1 uses it as the key itself; V2 generates
  its own ``billingKey`` and a provider keeps the mapping behind this id (``customer.id``), so a
  key issued again under the same id replaces the one before in both.
- ``merchant_uid``: the caller's id of an order (a charge or a scheduled charge): V2's
  ``paymentId``. ``imp_uid``: the provider's id of a payment, V2's ``transactionId``.
- Answers are the ``models`` (statuses in the service's words: ``paid``, ``failed``, ``ready``,
  ``cancelled``), failures the ``exceptions`` ladder: a declined card is CardDeclined, a used
  order DuplicateMerchantUid, an unknown key BillingKeyNotFound, whether the provider said so
  in an envelope (V1) or an HTTP status and error type (V2). An outcome a provider lost is
  settled by ``outcomes`` or said (``...OutcomeUnknown``, ChargePending), never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from .models import (
    BillingKey,
    CancelResult,
    CardDetails,
    Charge,
    ChargeResult,
    MoveResult,
    Payment,
    Schedule,
    ScheduledCharge,
    ScheduleResult,
)


class PaymentGateway(Protocol):
    """A payment provider's billing-key operations; every one may raise a GatewayError."""

    def check_ready(self) -> None:
        """Return if the provider can be called with our credentials (readiness); else raise
        GatewayAuthFailed, GatewayUnavailable, GatewayTimeout or UnexpectedResponse."""

    def issue_billing_key(
        self,
        customer_uid: str,
        card: CardDetails,
        customer: Mapping[str, str] | None = None,
    ) -> BillingKey:
        """Issue the key of ``customer_uid`` (replacing the one it had); raise CardRejected."""

    def delete_replaced_keys(self, customer_uid: str, keep: str) -> list[str]:
        """Delete the keys of ``customer_uid`` that a re-issuance replaced, all but ``keep``
        (``BillingKey.provider_key``), and return their ids; a recorded job calls it until it
        returns. V1 replaces a key in place: nothing is left to delete."""

    def move_schedules(self, customer_uid: str, keep: str) -> MoveResult:
        """Move the schedules of the keys of ``customer_uid`` that a re-issuance replaced to
        ``keep``, one at a time, stopping at the first the provider refuses (``refused``); a
        recorded job calls it until it returns, then ``delete_replaced_keys``. V1's schedules
        stay with the customer_uid: nothing to move."""

    def get_billing_key(self, customer_uid: str) -> BillingKey:
        """The key behind ``customer_uid``; raise BillingKeyNotFound."""

    def delete_billing_key(
        self, customer_uid: str, reason: str | None = None, *, revoke_schedules: bool = False
    ) -> BillingKey:
        """Delete the key behind ``customer_uid`` and return it; one with scheduled charges is
        SchedulesPending unless ``revoke_schedules``. Raise BillingKeyNotFound."""

    def forget_deleted_key(self, provider_key: str) -> str | None:
        """Once the provider shows the key ``provider_key`` deleted (PortOne V2's
        ``BillingKey.Deleted`` webhook), stop naming it behind its ``customer_uid`` if it still
        is; return that ``customer_uid``, else None (always, under V1: it names no key)."""

    def issued_here(self, payment: Payment) -> bool | None:
        """Whether ``payment`` was made with a key this service issued (PortOne V2: its
        ``billingKey`` was recorded at issuance; one another integration of the store issued
        is not); None when that cannot be told now. Under V1: whether it was made by a key."""

    def charge_billing_key(self, charge: Charge, *, pending: bool = False) -> ChargeResult:
        """Charge a key under the order ``charge.merchant_uid`` (V2: the paymentId), never twice;
        ``pending``: an earlier attempt of that order is remembered and is looked up first.
        Raise ChargePending, CardDeclined, BillingKeyNotFound, DuplicateMerchantUid or
        ChargeOutcomeUnknown."""

    def find_payment(self, merchant_uid: str) -> Payment | None:
        """The latest payment of the order ``merchant_uid`` (V2: paymentId), or None."""

    def get_payment(self, imp_uid: str) -> Payment:
        """The payment ``imp_uid`` (V2: transactionId); raise PaymentNotFound."""

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
        """Cancel all or ``amount`` of a payment exactly once, against the balance ``checksum``
        (V2: currentCancellableAmount); see ``IamportClient.cancel_payment`` for the retry
        arguments. Raise PaymentNotFound, NothingToCancel, CancelRefused, CancelExceedsBalance
        or CancelOutcomeUnknown."""

    def schedule_charges(
        self,
        customer_uid: str,
        charges: Sequence[ScheduledCharge],
        *,
        channel_key: str | None = None,
    ) -> ScheduleResult:
        """Schedule charges of a key, each under its own ``merchant_uid``, never twice (V2
        schedules one per call). Raise DuplicateMerchantUid, BillingKeyNotFound,
        ScheduleRefused or ScheduleOutcomeUnknown."""

    def get_schedule(self, merchant_uid: str) -> Schedule:
        """The scheduled charge of the order ``merchant_uid``; raise ScheduleNotFound."""

    def list_schedules(
        self,
        customer_uid: str,
        start: datetime,
        end: datetime,
        status: str | None = None,
    ) -> tuple[list[Schedule], bool]:
        """A key's scheduled charges between ``start`` and ``end``, and whether all were read."""

    def revoke_schedule(self, merchant_uid: str) -> Schedule:
        """Revoke one scheduled charge; raise ScheduleNotFound or ScheduleNotRevocable."""

    def revoke_customer_schedules(self, customer_uid: str) -> list[Schedule]:
        """Revoke every scheduled charge of a key; [] when none was pending."""
