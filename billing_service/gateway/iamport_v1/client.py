"""The I'mport (PortOne V1) client: every operation of the ``PaymentGateway`` protocol.

Its calls are grouped by what they act on, each group over the one before: ``session`` (the
transport, the token), ``billing_keys``, ``payments``, ``schedules``; deleting a key, which
revokes the key's schedules first, needs them all and is here.
"""

from __future__ import annotations

from ..exceptions import SchedulesPending
from ..models import BillingKey, MoveResult, Payment
from .parsing import parse_billing_key
from .schedules import ScheduleCalls


class IamportClient(ScheduleCalls):
    """The I'mport gateway the app builds (its arguments and retry rule: ``IamportSession``)."""

    def delete_replaced_keys(self, customer_uid: str, keep: str) -> list[str]:
        """Nothing: I'mport replaces a customer_uid's key in place."""
        return []

    def move_schedules(self, customer_uid: str, keep: str) -> MoveResult:
        """Nothing: I'mport's schedules stay with the customer_uid and charge its new card."""
        return MoveResult()

    def forget_deleted_key(self, provider_key: str) -> str | None:
        """Nothing: I'mport names a key by its customer_uid, with nothing behind it to forget."""
        return None

    def issued_here(self, payment: Payment) -> bool | None:
        """Whether it was made by a key: I'mport names keys by customer_uid, with no id of
        their own to record."""
        return payment.by_billing_key

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
