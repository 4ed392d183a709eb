"""PortOne V2's billing keys behind the caller's ``customer_uid``: issue, find, look up, and
delete the keys a re-issuance replaced.

V2 generates each key's id; we issue every key with ``customer.id = customer_uid`` and find the
current one through the directory, else PortOne's search (newest ISSUED first), checking what we
read back: a key is used only if it is ISSUED and its ``customer.id`` is the ``customer_uid``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..exceptions import (
    BillingKeyNotFound,
    CardRejected,
    KeyNotRemembered,
    ProviderError,
    RequestNotSupported,
    UnexpectedResponse,
)
from ..models import BillingKey, CardDetails, Payment
from .answer import Refusal
from .parsing import issued_key, issued_to, key_id, key_issued_at, parse_billing_key
from .session import PortOneSession, segment

# What PortOne answers for a card the PG would not issue a key for. An INVALID_REQUEST is a
# card refusal only with the PG's code; without one it is our request PortOne found wrong (a
# channel missing), which a caller cannot fix by another card: a gateway error.
_CARD_REFUSALS = ("PG_PROVIDER", "CHANNEL_SPECIFIC")
# PortOne's refusal to delete a key that has schedules.
SCHEDULES_EXIST = "PAYMENT_SCHEDULE_ALREADY_EXISTS"
_GONE = ("BILLING_KEY_NOT_FOUND", "BILLING_KEY_NOT_ISSUED", "BILLING_KEY_ALREADY_DELETED")
# Keys of one customer read by a search at most (its newest first).
MAX_KEYS = 100


class BillingKeyCalls(PortOneSession):
    """Issue, look up and delete billing keys by ``customer_uid``."""

    def issue_billing_key(
        self,
        customer_uid: str,
        card: CardDetails,
        customer: Mapping[str, str] | None = None,
    ) -> BillingKey:
        """Issue a key under ``customer_uid`` (``POST /billing-keys``), replacing the one it had:
        answered ``replaced`` when it had one, whose deletion (and that of any older one) is
        the host's recorded job (``delete_other_keys``); meanwhile the newest key is charged.

        Raises CardRejected (the PG's words and ``pg_code``), or another GatewayError.
        """
        customer = customer or {}
        if customer.get("pg"):
            raise RequestNotSupported(
                "pg is not supported under PortOne V2: name the channel with channel_key.",
                field="pg",
            )
        earlier = self._current_key(customer_uid)
        body = issue_body(customer_uid, card, customer, self._channel_key)
        try:
            billing_key = issued_key(self._move("issue_billing_key", "/billing-keys", body))
        except Refusal as exc:
            if exc.error_type in _CARD_REFUSALS or (
                exc.error_type == "INVALID_REQUEST" and exc.pg_code is not None
            ):
                raise CardRejected(
                    exc.words, http_status=exc.http_status, pg_code=exc.pg_code
                ) from exc
            raise
        info = self._key_info(billing_key)
        if info is None or not issued_to(info, customer_uid):
            # PortOne replayed an earlier issuance of this request whose key was replaced and
            # deleted since: never made current again.
            raise UnexpectedResponse(
                "PortOne answered with a billing key that is no longer issued (an earlier "
                "issuance of this request, replayed); issue again with a new Idempotency-Key."
            )
        if not self._directory.keep_issued(billing_key) or not self._directory.keep_billing_key(
            customer_uid, billing_key
        ):
            # Unremembered, the key it replaced would still be charged: the caller retries (with
            # the same key PortOne replays this issuance, and it is remembered then).
            raise KeyNotRemembered("The new billing key could not be recorded; retry.")
        replaced = earlier is not None and key_id(earlier) != billing_key
        return parse_billing_key(
            info, first_issued=key_issued_at(earlier) if replaced and earlier else None
        )

    def get_billing_key(self, customer_uid: str) -> BillingKey:
        """The current key of ``customer_uid``; raise BillingKeyNotFound."""
        return parse_billing_key(self._key_of(customer_uid))

    def delete_replaced_keys(self, customer_uid: str, keep: str) -> list[str]:
        """The keys a re-issuance replaced (see ``delete_other_keys``)."""
        return self.delete_other_keys(customer_uid, keep)

    def delete_other_keys(self, customer_uid: str, keep: str | None) -> list[str]:
        """Delete the ISSUED keys of ``customer_uid`` in the store issued before ``keep`` (a
        billingKey; None: all of them), and return the ids deleted. The host's recorded job
        calls it after each issuance until it returns without raising. A job that runs late
        never touches a key issued after its own (a later issuance's job deletes ``keep``
        itself), and one whose ``keep`` is gone already has nothing left to do. A key that still
        has schedules (PortOne refuses to delete it) is left: its schedules are moved to
        ``keep`` first (``move_schedules``), and one a move could not take stays on it."""
        deleted = []
        for billing_key in self._older_keys(customer_uid, keep):
            try:
                if self._delete_key(billing_key):
                    deleted.append(billing_key)
            except Refusal as exc:
                if exc.error_type != SCHEDULES_EXIST:
                    raise
        return deleted

    def _older_keys(
        self, customer_uid: str, keep: str | None, kept: Mapping[str, Any] | None = None
    ) -> list[str]:
        """The ISSUED keys of ``customer_uid`` issued before ``keep`` (None: all), newest
        first; none when ``keep`` is no longer an ISSUED key of ``customer_uid`` (``kept``: its
        info, when read already)."""
        cutoff = None
        if keep is not None:
            kept = kept if kept is not None else self._key_info(keep)
            if kept is None or not issued_to(kept, customer_uid):
                return []
            cutoff = key_issued_at(kept)
        older, past_keep = [], False
        for info in self._keys_of(customer_uid):  # newest first
            billing_key = key_id(info)
            if billing_key == keep:
                past_keep = True
                continue
            issued_at = key_issued_at(info)
            # Issued in the same instant as ``keep`` (timestamps may be whole seconds): older
            # only if PortOne lists it after ``keep``.
            if cutoff is not None and (
                issued_at > cutoff or (issued_at == cutoff and not past_keep)
            ):
                continue
            older.append(billing_key)
        return older

    def forget_deleted_key(self, provider_key: str) -> str | None:
        """Forget ``provider_key`` behind its ``customer_uid`` once PortOne shows it DELETED
        (its ``BillingKey.Deleted`` webhook, which the service's own deletions fire too), only
        if the directory still names it there (never a key issued since); that customer_uid."""
        info = self._key_info(provider_key)
        if info is None or info.get("status") != "DELETED":
            return None
        customer = info.get("customer")
        customer_uid = customer.get("id") if isinstance(customer, Mapping) else None
        if not isinstance(customer_uid, str) or self._directory.billing_key(customer_uid) != (
            provider_key
        ):
            return None
        return (
            customer_uid if self._directory.forget_billing_key(customer_uid, provider_key) else None
        )

    def issued_here(self, payment: Payment) -> bool | None:
        """Whether its ``billingKey`` is one the service issued: recorded at issuance, or (a key
        issued before issuances were recorded) the one it names behind the payment's customer."""
        key = payment.provider_key
        if key is None:
            return False
        issued = self._directory.issued(key)
        if issued is None or issued:
            return issued
        customer_uid = payment.customer_uid
        return customer_uid is not None and self._directory.billing_key(customer_uid) == key

    def _key_of(self, customer_uid: str) -> Mapping[str, Any]:
        info = self._current_key(customer_uid)
        if info is None:
            raise BillingKeyNotFound("There is no billing key under this customer_uid.")
        return info

    def _current_key(self, customer_uid: str) -> Mapping[str, Any] | None:
        """The ISSUED key of ``customer_uid``: the remembered one if it still is, else the newest
        one PortOne finds (remembered from then on); None when there is none."""
        remembered = self._directory.billing_key(customer_uid)
        if remembered is not None:
            info = self._key_info(remembered)
            if issued_to(info, customer_uid):
                return info
        found = self._keys_of(customer_uid, size=1)
        if not found:
            return None
        self._directory.keep_billing_key(customer_uid, key_id(found[0]))
        return found[0]

    def _keys_of(
        self, customer_uid: str, size: int = MAX_KEYS, *, deleted: bool = False
    ) -> list[Mapping[str, Any]]:
        """The ISSUED V2 keys whose ``customer.id`` is ``customer_uid``, newest first (and the
        DELETED ones too with ``deleted``: every key it has had)."""
        items = self._search(
            "find_billing_keys",
            "/billing-keys",
            {
                "page": {"number": 0, "size": size},
                "sort": {"by": "ISSUED_AT", "order": "DESC"},
                "filter": {
                    "customerId": customer_uid,
                    "status": ["ISSUED", "DELETED"] if deleted else ["ISSUED"],
                    "version": "V2",
                    "timeRangeField": "ISSUED_AT",
                },
            },
        )
        # A search that ignored a filter must not hand us another customer's key.
        return [item for item in items if _keyed_to(item, customer_uid, deleted=deleted)]

    def _key_info(self, billing_key: str) -> Mapping[str, Any] | None:
        """``GET /billing-keys/{billingKey}``, None when PortOne has no such key."""
        try:
            info = self._look_up("get_billing_key", f"/billing-keys/{segment(billing_key)}")
        except ProviderError as exc:
            if exc.http_status == 404:
                return None
            raise
        return info if isinstance(info, Mapping) else None

    def _delete_key(self, billing_key: str, reason: str | None = None) -> bool:
        """``DELETE /billing-keys/{billingKey}``; False when it was gone already. A key with
        payment schedules is refused (409 PAYMENT_SCHEDULE_ALREADY_EXISTS, raised as is)."""
        query = {"reason": reason} if reason else {}
        try:
            self._look_up(
                "delete_billing_key",
                f"/billing-keys/{segment(billing_key)}",
                method="DELETE",
                **query,
            )
        except Refusal as exc:
            if exc.error_type in _GONE:
                return False
            raise
        return True


def _keyed_to(info: Any, customer_uid: str, *, deleted: bool) -> bool:
    """An ISSUED key of ``customer_uid`` (or a DELETED one, with ``deleted``)."""
    if issued_to(info, customer_uid):
        return True
    return (
        deleted
        and isinstance(info, Mapping)
        and info.get("status") == "DELETED"
        and issued_to({**info, "status": "ISSUED"}, customer_uid)
    )


def issue_body(
    customer_uid: str, card: CardDetails, customer: Mapping[str, str], channel_key: str | None
) -> dict[str, Any]:
    """``IssueBillingKeyBody``: V1's card formats in V2's (digits, two-digit year and month),
    the customer under ``customer.id = customer_uid`` with V1's ``customer_id`` in
    ``customData``; the request's ``channel_key``, else the configured ``channel_key``."""
    year, month = card.expiry.split("-")
    credential = {
        "number": card.number,
        "expiryYear": year[-2:],
        "expiryMonth": month,
        "birthOrBusinessRegistrationNumber": card.birth,
    }
    if card.pwd_2digit is not None:
        credential["passwordTwoDigits"] = card.pwd_2digit
    body: dict[str, Any] = {
        "method": {"card": {"credential": credential}},
        "customer": v2_customer(customer_uid, customer, prefix="customer_"),
    }
    channel = customer.get("channel_key") or channel_key
    if channel:
        body["channelKey"] = channel
    if customer.get("customer_id"):
        body["customData"] = json.dumps({"customer_id": customer["customer_id"]})
    return body


def v2_customer(customer_uid: str, fields: Mapping[str, str], *, prefix: str) -> dict[str, Any]:
    """V1's ``{prefix}name``, ``_email``, ``_tel``, ``_addr``, ``_postcode`` as a V2
    ``customer`` whose ``id`` is ``customer_uid``."""
    customer: dict[str, Any] = {"id": customer_uid}
    if fields.get(f"{prefix}name"):
        customer["name"] = {"full": fields[f"{prefix}name"]}
    if fields.get(f"{prefix}email"):
        customer["email"] = fields[f"{prefix}email"]
    if fields.get(f"{prefix}tel"):
        customer["phoneNumber"] = fields[f"{prefix}tel"]
    if fields.get(f"{prefix}addr"):
        customer["address"] = {"addressLine1": fields[f"{prefix}addr"], "addressLine2": ""}
    if fields.get(f"{prefix}postcode"):
        customer["zipcode"] = fields[f"{prefix}postcode"]
    return customer
