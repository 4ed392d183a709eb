"""What the client remembers through its host: V2's ids behind the caller's.

PortOne generates a key's ``billingKey`` and lets one ``paymentId`` hold several attempts, so
the caller's ids (``customer_uid``, ``imp_uid``, a schedule's ``merchant_uid``) need a way back
to V2's. The host keeps it (its
state store, shared by every replica); PortOne stays the source of truth: a mapping missing is
searched for, and one that turns out stale costs a call, never a wrong charge (the client checks
what it reads back).
"""

from __future__ import annotations

from typing import Protocol


class Directory(Protocol):
    """V2's ids behind the caller's. An implementation never raises: one that cannot read
    answers None (the client then searches PortOne), one that cannot keep drops the value (it
    is searched for next time)."""

    def billing_key(self, customer_uid: str) -> str | None:
        """The ``billingKey`` last issued under ``customer_uid``, if one is remembered."""

    def keep_billing_key(self, customer_uid: str, billing_key: str) -> bool:
        """Remember the key just issued (or found) under ``customer_uid``; False when it could
        not be kept (a new key must then not be answered: the one it replaced would be
        charged)."""

    def issued(self, billing_key: str) -> bool | None:
        """Whether the service issued ``billing_key`` (recorded by ``keep_issued``); None when
        that cannot be read now."""

    def keep_issued(self, billing_key: str) -> bool:
        """Record for good that the service issued ``billing_key``; False when it could not be
        kept (the key must then not be answered: its payments would make no event)."""

    def forget_billing_key(self, customer_uid: str, billing_key: str) -> bool:
        """Forget the key of ``customer_uid`` if it is still ``billing_key`` (a deleted key);
        False when it could not be forgotten now."""

    def payment_id(self, imp_uid: str) -> str | None:
        """The ``paymentId`` of the attempt whose ``transactionId`` is ``imp_uid``, if known."""

    def keep_payment_id(self, imp_uid: str, payment_id: str) -> None:
        """Remember which ``paymentId`` the attempt ``imp_uid`` belongs to."""

    def schedule_id(self, payment_id: str) -> str | None:
        """The id of the schedule last made for ``paymentId`` (the caller's ``merchant_uid``),
        if known: V2 cannot filter its schedules by paymentId."""

    def keep_schedule_id(self, payment_id: str, schedule_id: str) -> None:
        """Remember the schedule just made (or found) for ``paymentId``."""

    def moving_schedule(self, customer_uid: str, schedule_id: str) -> str | None:
        """Where a move to a re-issued key of ``customer_uid`` left the schedule
        ``schedule_id`` (a move that died before scheduling it again is finished from it), if
        it did: "revoking" (about to revoke it), then the ``revokedAt`` PortOne answered."""

    def keep_moving_schedule(self, customer_uid: str, schedule_id: str, slot: str) -> bool:
        """Remember where a move is with ``schedule_id``; False when it could not be kept (the
        move must then not revoke it: a crash would lose it)."""

    def drop_moving_schedule(self, customer_uid: str, schedule_id: str, slot: str) -> None:
        """The move of ``schedule_id`` is over (forget it if ``slot`` is still the one kept)."""
