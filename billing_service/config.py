"""Configuration, read from the environment in one place and checked before the service starts."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from limits import parse_many

DEFAULT_API_URL = "https://api.iamport.kr"
# The credentials of sandbox mode: the bundled sandbox's defaults (python -m billing_service.sandbox
# and compose's sandbox container use them; tests/test_config.py checks that they agree). The
# sandbox this service starts itself is given them explicitly.
SANDBOX_API_KEY = "imp_sandbox_key"
SANDBOX_API_SECRET = "imp_sandbox_secret"

SCOPES = frozenset({"issue", "read", "charge", "cancel", "delete"})

# Card-testing limits (flask-limiter notation), each overridable by the variable of that name.
# Generous defaults, to tune with real traffic: a limit hit by legitimate callers costs sales.
DEFAULT_LIMITS = {
    "BILLING_LIMIT_ISSUE_PER_CALLER": "300/minute",
    "BILLING_LIMIT_ISSUE_PER_CUSTOMER": "30/hour",
    "BILLING_LIMIT_ISSUE_PER_CARD": "30/hour",
    # Refused issuances and declined charges (402): what card testing produces most.
    "BILLING_LIMIT_REFUSALS_PER_CALLER": "50/hour",
}


class ConfigError(Exception):
    """The environment does not describe a service that can run."""


@dataclass(frozen=True)
class Caller:
    """A calling service: its name, the SHA-256 of its secret, and what it may do."""

    name: str
    secret_sha256: bytes = field(repr=False)
    scopes: frozenset[str]


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    iamport_api_url: str | None  # None in sandbox mode: start the bundled sandbox
    iamport_api_key: str = field(repr=False)
    iamport_api_secret: str = field(repr=False)
    connect_timeout: float
    read_timeout: float
    # The proxy that I'mport calls go through, and a CA bundle for its TLS certificate (None:
    # certifi's), from the variables requests and curl read.
    iamport_proxy_url: str | None
    iamport_ca_bundle: str | None
    callers: tuple[Caller, ...]  # empty: no caller auth (sandbox mode only)
    sandbox: bool
    ratelimit_storage: str
    limits: dict[str, str]
    # Key of the HMAC that turns a card number into a rate-limit key; random when not given.
    card_fingerprint_key: bytes = field(repr=False)
    card_fingerprint_key_given: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check the environment; raise ConfigError saying what to fix."""
        key = env.get("IAMPORT_API_KEY", "").strip()
        secret = env.get("IAMPORT_API_SECRET", "").strip()
        if bool(key) != bool(secret):
            raise ConfigError(
                "Set both IAMPORT_API_KEY and IAMPORT_API_SECRET (real I'mport), "
                "or neither (bundled sandbox)."
            )
        sandbox = not key
        callers = _parse_callers(env.get("BILLING_API_KEYS", ""))
        if not sandbox and not callers:
            raise ConfigError(
                "BILLING_API_KEYS is required with real I'mport credentials: "
                "comma-separated caller:secret pairs."
            )
        url = env.get("IAMPORT_API_URL", "").strip() or (None if sandbox else DEFAULT_API_URL)
        if url is not None and not url.startswith(("https://", "http://")):
            raise ConfigError("IAMPORT_API_URL must be an http:// or https:// URL.")
        storage = env.get("BILLING_RATELIMIT_STORAGE", "").strip() or "memory://"
        if not storage.startswith(("memory://", "redis://", "rediss://")):
            raise ConfigError("BILLING_RATELIMIT_STORAGE must be memory:// or a redis:// URL.")
        fingerprint_key = env.get("BILLING_CARD_FINGERPRINT_KEY", "").strip()
        return cls(
            iamport_api_url=url,
            iamport_api_key=key or SANDBOX_API_KEY,
            iamport_api_secret=secret or SANDBOX_API_SECRET,
            connect_timeout=_seconds(env, "IAMPORT_CONNECT_TIMEOUT", 3.0),
            read_timeout=_seconds(env, "IAMPORT_READ_TIMEOUT", 30.0),
            # The bundled sandbox (no URL) runs on loopback: never through a proxy.
            iamport_proxy_url=None if url is None else _proxy_for(url, env),
            iamport_ca_bundle=(
                env.get("REQUESTS_CA_BUNDLE", "").strip()
                or env.get("CURL_CA_BUNDLE", "").strip()
                or None
            ),
            callers=callers,
            sandbox=sandbox,
            ratelimit_storage=storage,
            limits={name: _limit(env, name, default) for name, default in DEFAULT_LIMITS.items()},
            card_fingerprint_key=fingerprint_key.encode() or secrets.token_bytes(32),
            card_fingerprint_key_given=bool(fingerprint_key),
        )


def _parse_callers(value: str) -> tuple[Caller, ...]:
    """``caller:secret[:scopes]`` or ``caller:sha256=<hex>[:scopes]``, comma-separated.

    Scopes are joined with ``+`` (``issue+read``); none listed means all of them.
    """
    callers: dict[str, Caller] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, _, rest = entry.partition(":")
        secret, _, scope_list = rest.partition(":")
        name, secret = name.strip(), secret.strip()
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
        callers[name] = Caller(name, _secret_digest(name, secret), scopes)
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


def _limit(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate limit such as 10/hour or 5/minute.") from None
    return value


def _proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy ``url`` is reached through, as ``<scheme>_proxy``/``all_proxy``/``no_proxy``
    say (lower case first, as curl and requests read them)."""

    def variable(name: str) -> str:
        return (env.get(name) or env.get(name.upper()) or "").strip()

    parts = urlsplit(url)
    proxy = variable(f"{parts.scheme}_proxy") or variable("all_proxy")
    if not proxy:
        return None
    if not proxy.startswith(("http://", "https://")):
        # Not echoed: a proxy URL may hold a password.
        raise ConfigError("The proxy for I'mport (*_proxy) must be an http:// or https:// URL.")
    host = (parts.hostname or "").lower()
    for entry in variable("no_proxy").lower().split(","):
        domain = entry.strip().rsplit(":", 1)[0].lstrip(".")  # "*", a host, or a .domain
        if domain == "*" or (domain and (host == domain or host.endswith("." + domain))):
            return None
    return proxy


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds.") from None
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a positive number of seconds.")
    return value
