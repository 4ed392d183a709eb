"""Callers: who may call the service (BILLING_API_KEYS), what each may do, whose customers."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .values import ConfigError

SCOPES = frozenset({"issue", "read", "charge", "cancel", "delete", "schedule", "events"})


@dataclass(frozen=True)
class Caller:
    """A calling service: its name, the SHA-256 of its secret, what it may do, and the
    ``customer_uid`` prefix of the customers it owns (None: all of them)."""

    name: str
    secret_sha256: bytes = field(repr=False)
    scopes: frozenset[str]
    prefix: str | None = None

    def owns(self, customer_uid: str | None) -> bool:
        """Whether this caller may touch the customer (OWASP API1: object-level access)."""
        return self.prefix is None or (customer_uid or "").startswith(self.prefix)


def parse_callers(value: str) -> tuple[Caller, ...]:
    """``caller:secret[:scopes[:prefix=P]]`` or ``caller:sha256=<hex>[:...]``, comma-separated.

    Scopes are joined with ``+`` (``issue+read``); none listed means all of them. ``prefix=P``:
    the caller owns only the customers whose ``customer_uid`` starts with P.
    """
    callers: dict[str, Caller] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, _, rest = entry.partition(":")
        secret, _, rest = rest.partition(":")
        scope_list, _, ownership = rest.partition(":")
        name, secret, ownership = name.strip(), secret.strip(), ownership.strip()
        prefix = ownership.removeprefix("prefix=") if ownership else None
        if ownership and (not ownership.startswith("prefix=") or not prefix):
            raise ConfigError(
                f"BILLING_API_KEYS: {name!r} has an ownership rule that is not prefix=<text>."
            )
        if not name or not secret:
            raise ConfigError(
                "BILLING_API_KEYS entries must look like caller:secret[:scope+scope] "
                "or caller:sha256=<hex>[:scope+scope]."
            )
        if name in callers:
            raise ConfigError(f"BILLING_API_KEYS names the caller {name!r} twice.")
        scopes = frozenset(s.strip() for s in scope_list.split("+") if s.strip()) or SCOPES
        if unknown := scopes - SCOPES:
            raise ConfigError(
                f"BILLING_API_KEYS gives {name!r} unknown scopes {sorted(unknown)}; "
                f"known: {sorted(SCOPES)}."
            )
        callers[name] = Caller(name, _secret_digest(name, secret), scopes, prefix)
    return tuple(callers.values())


def _secret_digest(name: str, secret: str) -> bytes:
    if secret.startswith("sha256="):
        hex_digest = secret.removeprefix("sha256=")
        if not re.fullmatch("[0-9a-fA-F]{64}", hex_digest):
            raise ConfigError(
                f"BILLING_API_KEYS: {name!r} has a sha256= that is not 64 hex digits."
            )
        return bytes.fromhex(hex_digest)
    return hashlib.sha256(secret.encode()).digest()
