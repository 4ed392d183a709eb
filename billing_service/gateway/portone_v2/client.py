"""The PortOne V2 client: every operation of the ``PaymentGateway`` protocol.

Its calls are grouped by what they act on, each group over the one before: ``session`` (the
transport, the secret, the store, idempotency keys), ``billing_keys``, ``payments`` (charges
and lookups), ``cancels``, ``schedules``, ``moves`` (a re-issuance's schedules to the new key);
deleting a key, which may revoke its schedules first, and readiness are here.
"""

from __future__ import annotations

from ..exceptions import ProviderError, SchedulesPending
from ..models import BillingKey
from .answer import Refusal
from .billing_keys import SCHEDULES_EXIST
from .moves import MoveCalls
from .parsing import key_id, parse_billing_key
from .session import segment

# A billingKey that cannot exist: its lookup answers 404 once the secret is accepted.
_PROBE_KEY = "billing-service-readiness-probe"
PENDING_MESSAGE = "The billing key still has scheduled charges."
LEFT_BEHIND_MESSAGE = (
    "An older billing key of this customer_uid still has scheduled charges that a re-issuance "
    "could not move to the new key; revoke them (revoke_schedules=true) to delete it."
)


class PortOneClient(MoveCalls):
    """The PortOne V2 gateway the app builds (its arguments: ``PortOneSession``)."""

    def check_ready(self) -> None:
        """Return if PortOne accepts our secret for our store: one cheap lookup (a key that does
        not exist: 404 is the expected answer). Raises GatewayAuthFailed (401, or 403 for the
        store), GatewayUnavailable, GatewayTimeout or UnexpectedResponse."""
        try:
            self._look_up("check_ready", f"/billing-keys/{segment(_PROBE_KEY)}")
        except ProviderError as exc:
            if exc.http_status != 404:
                raise

    def delete_billing_key(
        self, customer_uid: str, reason: str | None = None, *, revoke_schedules: bool = False
    ) -> BillingKey:
        """Delete the key of ``customer_uid`` and any older one a re-issuance left
        (``DELETE /billing-keys/{billingKey}``); return the key as it was.

        PortOne refuses to delete a key with payment schedules (SchedulesPending) unless
        ``revoke_schedules``, which revokes those of every key of the customer first. An older
        key still holding schedules a move could not take is SchedulesPending too (the current
        key is deleted by then; the older one is the customer's until it is).

        Raises BillingKeyNotFound, SchedulesPending, or another GatewayError.
        """
        info = self._key_of(customer_uid)
        if revoke_schedules:
            self.revoke_customer_schedules(customer_uid)
        self._delete_or_refuse(key_id(info), reason, PENDING_MESSAGE)
        # An older key still ISSUED would otherwise be found by the next lookup.
        for billing_key in self._older_keys(customer_uid, None):
            self._delete_or_refuse(billing_key, None, LEFT_BEHIND_MESSAGE)
        return parse_billing_key(info)

    def _delete_or_refuse(self, billing_key: str, reason: str | None, pending: str) -> None:
        try:
            self._delete_key(billing_key, reason)
        except Refusal as exc:
            if exc.error_type == SCHEDULES_EXIST:
                raise SchedulesPending(pending) from exc
            raise
