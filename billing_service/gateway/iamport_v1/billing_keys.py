"""I'mport's billing keys: issue and look up (``/subscribe/customers/{customer_uid}``)."""

from __future__ import annotations

from collections.abc import Mapping

from ..exceptions import BillingKeyNotFound, CardRejected, ProviderError, UnknownBillingKeyRefusal
from ..models import BillingKey, CardDetails
from .parsing import parse_billing_key
from .session import IamportSession, segment


class BillingKeyCalls(IamportSession):
    """Issue and look up billing keys (deleting one, which revokes its schedules, is the
    client's: it needs the schedule calls)."""

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
                "issue_billing_key", "POST", f"/subscribe/customers/{segment(customer_uid)}", body
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

    def _refuse_if_no_key(self, customer_uid: str, refusal: ProviderError) -> None:
        """Raise UnknownBillingKeyRefusal with I'mport's refusal if the customer has no key."""
        try:
            self.get_billing_key(customer_uid)
        except BillingKeyNotFound as exc:
            raise UnknownBillingKeyRefusal(
                refusal.message, http_status=refusal.http_status, code=refusal.code
            ) from exc


def _dashed_card_number(digits: str) -> str:
    """I'mport documents card numbers as dddd-dddd-dddd-dddd; shorter ones end in a short group."""
    return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
