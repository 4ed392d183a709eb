"""Configuration, read from the environment in one place and checked before the service starts."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
import os
import re
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

SCOPES = frozenset({"issue", "read", "charge", "cancel", "delete", "schedule", "events"})
# Where the embedded state store and the instance's generated keys live; it must survive a
# restart (the image declares it a volume).
DEFAULT_DATA_DIR = "var"
REDIS_SCHEMES = ("redis://", "rediss://")
# After each failed delivery of an event: Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
# 10 h: over 24 h in all), the first attempt being immediate.
DEFAULT_EVENT_RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
_CALLS_PER_REQUEST = 6

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
    """A calling service: its name, the SHA-256 of its secret, what it may do, and the
    ``customer_uid`` prefix of the customers it owns (None: all of them)."""

    name: str
    secret_sha256: bytes = field(repr=False)
    scopes: frozenset[str]
    prefix: str | None = None

    def owns(self, customer_uid: str | None) -> bool:
        """Whether this caller may touch the customer (OWASP API1: object-level access)."""
        return self.prefix is None or (customer_uid or "").startswith(self.prefix)


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
    # Where the service keeps what its workers (and replicas) share: sqlite:///<path> (one
    # instance) or redis://... (replicas); counters_in_memory: the deprecated memory:// (tests).
    state_url: str
    counters_in_memory: bool
    data_dir: str
    idempotency_ttl: float
    limits: dict[str, str]
    # Key of the HMAC that turns a card number (and an idempotent request) into a key; None:
    # the instance's own, generated once in data_dir.
    card_fingerprint_key: bytes | None = field(repr=False)
    # The I'mport console channel calls use unless they name one (IAMPORT_CHANNEL_KEY).
    channel_key: str | None = None
    # Who may post I'mport's notices: addresses (None: anyone), the secret path segment, and
    # the proxies whose X-Forwarded-For is believed.
    webhook_allowed_ips: frozenset[str] | None = None
    webhook_token: str | None = field(default=None, repr=False)
    trusted_proxies: frozenset[str] = frozenset()
    # Signed events to internal services.
    event_urls: tuple[str, ...] = ()
    event_secret: str | None = field(default=None, repr=False)
    event_retry_delays: tuple[float, ...] = DEFAULT_EVENT_RETRY_DELAYS
    event_lease_seconds: float = 120.0
    schedule_reconcile_after: float = 600.0
    # What the operator should change (deprecated settings), logged at start-up.
    warnings: tuple[str, ...] = ()

    @property
    def longest_request(self) -> int:
        """Seconds the longest request can last: at most 6 I'mport calls in a row, each within
        its deadline (connect + read timeout), and 5 s to spare.

        With at most one token refusal, the longest chains are:
          refused charge: token, charge -> 401, token, charge -> refused, order lookup, key lookup
          lost charge:    token, charge -> 401, token, charge -> no answer, order lookup
          lost cancel:    token, lookup -> 401, token, lookup, cancel -> no answer, lookup
        Only an I'mport refusing freshly issued tokens again and again makes more.
        """
        return math.ceil(_CALLS_PER_REQUEST * (self.connect_timeout + self.read_timeout)) + 5

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
        data_dir = env.get("BILLING_DATA_DIR", "").strip() or DEFAULT_DATA_DIR
        state_url, in_memory, warnings = _state_url(env, data_dir)
        fingerprint_key = env.get("BILLING_CARD_FINGERPRINT_KEY", "").strip()
        if state_url.startswith(REDIS_SCHEMES) and not fingerprint_key:
            raise ConfigError(
                "BILLING_CARD_FINGERPRINT_KEY is required with a redis:// BILLING_STATE_URL: "
                "every replica must turn a card (and a retried request) into the same key."
            )
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
            state_url=state_url,
            counters_in_memory=in_memory,
            data_dir=data_dir,
            idempotency_ttl=_seconds(env, "BILLING_IDEMPOTENCY_TTL", 86400.0),
            limits={name: _limit(env, name, default) for name, default in DEFAULT_LIMITS.items()},
            card_fingerprint_key=fingerprint_key.encode() or None,
            channel_key=env.get("IAMPORT_CHANNEL_KEY", "").strip() or None,
            webhook_allowed_ips=_addresses(env, "BILLING_WEBHOOK_ALLOWED_IPS") or None,
            webhook_token=_webhook_token(env),
            trusted_proxies=_addresses(env, "BILLING_TRUSTED_PROXIES"),
            event_urls=_event_urls(env),
            event_secret=_event_secret(env),
            event_retry_delays=_delays(env),
            event_lease_seconds=_seconds(env, "BILLING_EVENT_LEASE_SECONDS", 120.0),
            schedule_reconcile_after=_seconds(env, "BILLING_SCHEDULE_RECONCILE_AFTER", 600.0),
            warnings=warnings,
        )


def _state_url(env: Mapping[str, str], data_dir: str) -> tuple[str, bool, tuple[str, ...]]:
    """BILLING_STATE_URL, or the deprecated BILLING_RATELIMIT_STORAGE, or the embedded store."""
    url = env.get("BILLING_STATE_URL", "").strip()
    alias = env.get("BILLING_RATELIMIT_STORAGE", "").strip()
    warnings: list[str] = []
    if not url and alias:
        warnings.append("BILLING_RATELIMIT_STORAGE is deprecated: set BILLING_STATE_URL instead.")
        if alias.startswith("memory://"):
            warnings.append(
                "BILLING_RATELIMIT_STORAGE=memory:// counts card-testing limits per process "
                "(tests only): the configured limits are multiplied by the number of workers."
            )
            return _embedded(data_dir), True, tuple(warnings)
        if not alias.startswith(REDIS_SCHEMES):
            raise ConfigError("BILLING_RATELIMIT_STORAGE must be memory:// or a redis:// URL.")
        url = alias
    url = url or _embedded(data_dir)
    if not url.startswith((*REDIS_SCHEMES, "sqlite:///")) or url == "sqlite:///":
        raise ConfigError("BILLING_STATE_URL must be sqlite:///<path> or a redis:// URL.")
    return url, False, tuple(warnings)


def _addresses(env: Mapping[str, str], name: str) -> frozenset[str]:
    """Comma-separated IP addresses (IPv4 or IPv6), normalised."""
    addresses = set()
    for part in filter(None, (p.strip() for p in env.get(name, "").split(","))):
        try:
            addresses.add(str(ipaddress.ip_address(part)))
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated IP addresses.") from None
    return frozenset(addresses)


def _webhook_token(env: Mapping[str, str]) -> str | None:
    token = env.get("BILLING_WEBHOOK_TOKEN", "").strip()
    if token and not re.fullmatch("[A-Za-z0-9_-]{16,80}", token):
        raise ConfigError("BILLING_WEBHOOK_TOKEN must be 16-80 of [A-Za-z0-9_-].")
    return token or None


def _event_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(filter(None, (u.strip() for u in env.get("BILLING_EVENT_URLS", "").split(","))))
    for url in urls:
        if not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
            raise ConfigError("BILLING_EVENT_URLS must be comma-separated http(s):// URLs.")
    return urls


def _event_secret(env: Mapping[str, str]) -> str | None:
    secret = env.get("BILLING_EVENT_SECRET", "").strip()
    if not secret:
        if _event_urls(env):
            raise ConfigError(
                "BILLING_EVENT_SECRET (whsec_...) is required with BILLING_EVENT_URLS."
            )
        return None
    try:
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        raw = b""
    if not secret.startswith("whsec_") or not 24 <= len(raw) <= 64:
        raise ConfigError(
            "BILLING_EVENT_SECRET must be whsec_ and the base64 of 24 to 64 random bytes."
        )
    return secret


def _delays(env: Mapping[str, str]) -> tuple[float, ...]:
    raw = env.get("BILLING_EVENT_RETRY_DELAYS", "").strip()
    if not raw:
        return DEFAULT_EVENT_RETRY_DELAYS
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError("BILLING_EVENT_RETRY_DELAYS must be comma-separated seconds.") from None
    if not delays or not all(d >= 0 and math.isfinite(d) for d in delays):
        raise ConfigError("BILLING_EVENT_RETRY_DELAYS must be comma-separated seconds >= 0.")
    return delays


def _embedded(data_dir: str) -> str:
    return "sqlite:///" + os.path.join(data_dir, "state.db")


def _parse_callers(value: str) -> tuple[Caller, ...]:
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
