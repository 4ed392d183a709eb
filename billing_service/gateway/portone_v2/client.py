"""The PortOne V2 client: every operation of the ``PaymentGateway`` protocol.

Its calls are grouped by what they act on, each group over the one before: ``session`` (the
transport, the secret, the store, idempotency keys), ``billing_keys``, ``payments`` (charges
and lookups), ``cancels``; deleting a key and readiness are here, and the schedule operations,
which the service does not run through V2 yet, refuse with NotSupportedByProvider.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..exceptions import NotSupportedByProvider, ProviderError, SchedulesPending
from ..models import BillingKey, Schedule, ScheduledCharge, ScheduleResult
from .answer import Refusal
from .cancels import CancelCalls
from .parsing import key_id, parse_billing_key
from .session import segment

NO_SCHEDULES = "Scheduled charges are not supported under PortOne V2 yet."
# A billingKey that cannot exist: its lookup answers 404 once the secret is accepted.
_PROBE_KEY = "billing-service-readiness-probe"


class PortOneClient(CancelCalls):
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

        PortOne refuses to delete a key with payment schedules (SchedulesPending); the service
        makes none under V2, so ``revoke_schedules`` has nothing to revoke.

        Raises BillingKeyNotFound, SchedulesPending, or another GatewayError.
        """
        info = self._key_of(customer_uid)
        try:
            self._delete_key(key_id(info), reason)
        except Refusal as exc:
            if exc.error_type == "PAYMENT_SCHEDULE_ALREADY_EXISTS":
                raise SchedulesPending("The billing key still has scheduled charges.") from exc
            raise
        # An older key still ISSUED would otherwise be found by the next lookup.
        self.delete_other_keys(customer_uid, None)
        return parse_billing_key(info)

    def schedule_charges(
        self,
        customer_uid: str,
        charges: Sequence[ScheduledCharge],
        *,
        channel_key: str | None = None,
    ) -> ScheduleResult:
        raise NotSupportedByProvider(NO_SCHEDULES)

    def get_schedule(self, merchant_uid: str) -> Schedule:
        raise NotSupportedByProvider(NO_SCHEDULES)

    def list_schedules(
        self,
        customer_uid: str,
        start: datetime,
        end: datetime,
        status: str | None = None,
    ) -> tuple[list[Schedule], bool]:
        raise NotSupportedByProvider(NO_SCHEDULES)

    def revoke_schedule(self, merchant_uid: str) -> Schedule:
        raise NotSupportedByProvider(NO_SCHEDULES)

    def revoke_customer_schedules(self, customer_uid: str) -> list[Schedule]:
        raise NotSupportedByProvider(NO_SCHEDULES)
