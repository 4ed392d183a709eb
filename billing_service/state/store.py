"""What every state store offers, and the rules of idempotency records they all apply.

A store keeps four kinds of things, each under a key with an expiry: fixed-window counters
(the card-testing limits), idempotency records (one per caller and ``Idempotency-Key``),
pending charges (a ``merchant_uid`` I'mport left ``ready``) and order locks (a ``merchant_uid``
or ``imp_uid`` a request is charging or cancelling). The embedded store (SQLite) is
shared by the workers of one instance, the shared one (Redis) by every replica.

What a record holds is what the caller got, never card data: the fingerprint is an HMAC of the
request, the body is the answer (which shows card numbers masked only).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal, NamedTuple, Protocol


class StateUnavailable(Exception):
    """The store cannot be read or written now (down, locked, corrupt, read-only)."""


class AttemptSuperseded(StateUnavailable):
    """The record is no longer this attempt's to write: its lease ended and another attempt
    claimed the key (or the record expired)."""


# in_flight: a request is running under the key; done: its answer is final and replayed;
# retry: its outcome was unknown (502/503/504), so the next attempt runs again, with what the
# record kept (a cancel's checksum) to make that safe.
RecordState = Literal["in_flight", "done", "retry"]


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    state: RecordState
    started_at: float  # when the first attempt began (UNIX seconds)
    lease_until: float  # an in-flight request whose process died is taken over after this
    expires_at: float
    status: int | None = None
    body: str | None = None  # the answer's JSON text
    checksum: int | None = None  # a cancel's balance, read and sent as I'mport's checksum
    # The attempt that holds the record: each claim that runs the request gets a new one, and
    # only that attempt may write the record (save and release compare it).
    attempt: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> IdempotencyRecord:
        return cls(**json.loads(text))


class Hit(NamedTuple):
    """One attempt to count in the fixed window ``key``: ``limit`` attempts per ``expiry`` s.

    A check-only hit (``counts=False``) is refused when its window is full but counts nothing:
    its window counts outcomes, later (the refusal budget counts 402s).
    """

    key: str
    limit: int
    expiry: int
    counts: bool = True


class Refused(NamedTuple):
    """Attempts counted in ``hit``'s window reached its limit; it ends in ``retry_after`` s."""

    hit: Hit
    retry_after: float


ClaimOutcome = Literal["new", "resume", "replay", "mismatch", "in_progress"]


@dataclass(frozen=True)
class Claim:
    """What a request with an ``Idempotency-Key`` may do: run (``new``, or ``resume`` an attempt
    whose outcome was unknown), answer with the stored answer (``replay``), or be refused."""

    outcome: ClaimOutcome
    record: IdempotencyRecord


def decide_claim(
    existing: IdempotencyRecord | None,
    fingerprint: str,
    *,
    now: float,
    lease: float,
    ttl: float,
) -> tuple[Claim, IdempotencyRecord | None]:
    """The claim a request gets, and the record to write (None: write nothing).

    Every store runs this inside one atomic read-then-write, so two requests with one key can
    never both run.
    """
    attempt = uuid.uuid4().hex
    if existing is None or existing.expires_at <= now:
        record = IdempotencyRecord(
            fingerprint, "in_flight", now, now + lease, now + ttl, attempt=attempt
        )
        return Claim("new", record), record
    if existing.fingerprint != fingerprint:
        return Claim("mismatch", existing), None
    if existing.state == "done":
        return Claim("replay", existing), None
    if existing.state == "in_flight" and existing.lease_until > now:
        return Claim("in_progress", existing), None
    resumed = replace(existing, state="in_flight", lease_until=now + lease, attempt=attempt)
    return Claim("resume", resumed), resumed


def held_by(existing: IdempotencyRecord | None, attempt: str, *, now: float) -> bool:
    """Whether ``attempt`` still holds the record: what save and release check, atomically."""
    return existing is not None and existing.attempt == attempt and existing.expires_at > now


class StateStore(Protocol):
    """The operations the service needs; every failure is StateUnavailable."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to the counter's window (opened for ``expiry`` s); the new count."""

    def get(self, key: str) -> int:
        """The counter's count in its open window (0 when none is open)."""

    def get_expiry(self, key: str) -> float:
        """When the counter's window ends (UNIX seconds; now when none is open)."""

    def clear(self, key: str) -> None:
        """Drop the counter."""

    def hit_all(self, hits: Sequence[Hit]) -> Refused | None:
        """Check every window and count one attempt in each counting one, atomically and all or
        none: None when each was under its limit (each counting one counts one more now), else
        the full window that ends last (nothing counted)."""

    def refund(self, keys: Sequence[str]) -> None:
        """Take one attempt back from each open window (one that never reached I'mport)."""

    def claim(self, key: str, fingerprint: str, *, lease: float, ttl: float) -> Claim:
        """Claim the idempotency record ``key`` for a request (see decide_claim)."""

    def has_record(self, key: str) -> bool:
        """Whether the idempotency record ``key`` exists (and has not expired)."""

    def save(self, key: str, record: IdempotencyRecord) -> None:
        """Write ``record`` (a checksum read, a final answer, an unknown outcome) if its attempt
        still holds the key (held_by); else raise AttemptSuperseded and write nothing."""

    def release(self, key: str, attempt: str) -> None:
        """Forget the record: the request was refused before it ran (validation, 429). Only
        while ``attempt`` holds it; else AttemptSuperseded."""

    def lock(self, key: str, owner: str, lease: float) -> float | None:
        """Take the lock ``key`` for ``lease`` seconds: None when ``owner`` holds it now, else
        when the other holder's lease ends (UNIX seconds). A lock whose lease ended is free."""

    def unlock(self, key: str, owner: str) -> None:
        """Free the lock ``key`` if ``owner`` holds it."""

    def mark_pending(self, key: str, ttl: float) -> None:
        """Remember a charge I'mport left ``ready``."""

    def is_pending(self, key: str) -> bool:
        """Whether a charge is remembered as pending."""

    def clear_pending(self, key: str) -> None:
        """Forget a pending charge (its outcome is known now)."""

    def put_name(self, key: str, value: str, ttl: float | None = None) -> None:
        """Remember that ``key`` names ``value`` (a caller's id of a provider's: a
        ``customer_uid``'s billing key), for ``ttl`` seconds or for good."""

    def get_name(self, key: str) -> str | None:
        """What ``key`` names, or None."""

    def drop_name(self, key: str, value: str) -> None:
        """Forget what ``key`` names if it still names ``value`` (never a newer one)."""

    def check(self) -> None:
        """Return if the store can be read and written now; raise StateUnavailable otherwise."""
