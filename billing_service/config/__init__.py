"""Configuration, read from the environment in one place and checked before the service starts.

- this module: ``Settings.from_env``, the whole configuration read and checked at once, and the
  rules that tie settings together (sandbox mode, credentials, keys, the state store);
- ``values``: single settings read and checked (seconds, flags, addresses, URLs, limits);
- ``callers``: ``BILLING_API_KEYS``, the callers, their scopes and the customers they own;
- ``chains``: the longest chains of I'mport calls a request makes, and so how long it lasts;
- ``portone``: ``BILLING_PROVIDER`` and PortOne V2's settings (its own chains of calls).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..gateway.endpoint import check_api_url, proxy_for
from .callers import SCOPES, Caller, parse_callers
from .chains import (
    CALLS_PER_REQUEST,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    LONGEST_CHAINS,
    longest_request,
)
from .portone import PROVIDERS, PortOneSettings, portone_settings, provider, v2_warnings
from .values import (
    ConfigError,
    Network,
    addresses,
    delays,
    event_secret,
    event_urls,
    flag,
    limit,
    seconds,
    webhook_token,
)

__all__ = [
    "CALLS_PER_REQUEST",
    "LONGEST_CHAINS",
    "PROVIDERS",
    "SCOPES",
    "PortOneSettings",
    "Caller",
    "ConfigError",
    "Settings",
    "longest_request",
]

DEFAULT_API_URL = "https://api.iamport.kr"
# The credentials of sandbox mode: the bundled sandbox's defaults (python -m billing_service.sandbox
# and compose's sandbox container use them; tests/test_config.py checks that they agree). The
# sandbox this service starts itself is given them explicitly.
SANDBOX_API_KEY = "imp_sandbox_key"
SANDBOX_API_SECRET = "imp_sandbox_secret"

# Where the embedded state store and the instance's generated keys live; it must survive a
# restart (the image declares it a volume).
DEFAULT_DATA_DIR = "var"
# The card fingerprint key generated in the data directory (sandbox mode only), and how long a
# key given in the environment must be.
CARD_FINGERPRINT_KEY_FILE = "card-fingerprint.key"
MIN_FINGERPRINT_KEY_LENGTH = 32
REDIS_SCHEMES = ("redis://", "rediss://")
# After each failed delivery of an event: Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
# 10 h: over 24 h in all), the first attempt being immediate.
DEFAULT_EVENT_RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# How long an event's delivered and failed deliveries are kept (and listed) from its creation:
# 30 days (BILLING_EVENT_RETENTION). Pending ones stay until they end.
DEFAULT_EVENT_RETENTION = 30 * 24 * 3600.0
# Card-testing limits (the limits library's notation: 10/hour, 5/minute), each overridable by
# the variable of that name.
# Generous defaults, to tune with real traffic: a limit hit by legitimate callers costs sales.
DEFAULT_LIMITS = {
    "BILLING_LIMIT_ISSUE_PER_CALLER": "300/minute",
    "BILLING_LIMIT_ISSUE_PER_CUSTOMER": "30/hour",
    "BILLING_LIMIT_ISSUE_PER_CARD": "30/hour",
    # Refused issuances and declined charges (402): what card testing produces most.
    "BILLING_LIMIT_REFUSALS_PER_CALLER": "50/hour",
}


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
    sandbox: bool  # BILLING_SANDBOX: the I'mport sandbox, never real I'mport
    # Where the service keeps what its workers (and replicas) share: sqlite:///<path> (one
    # instance) or redis://... (replicas); counters_in_memory: the deprecated memory:// (tests).
    state_url: str
    counters_in_memory: bool
    data_dir: str
    idempotency_ttl: float
    limits: dict[str, str]
    # Key of the HMAC that turns a card number (and an idempotent request) into a key; None:
    # the instance's own, generated once in data_dir (sandbox mode only).
    card_fingerprint_key: bytes | None = field(repr=False)
    # The key before a rotation: idempotency records made with it are still found.
    card_fingerprint_key_previous: bytes | None = field(default=None, repr=False)
    # The I'mport console channel calls use unless they name one (IAMPORT_CHANNEL_KEY).
    channel_key: str | None = None
    # Who may post I'mport's notices: addresses (None: anyone), the secret path segment, and
    # the proxies whose X-Forwarded-For is believed.
    webhook_allowed_ips: frozenset[Network] | None = None
    webhook_token: str | None = field(default=None, repr=False)
    trusted_proxies: frozenset[Network] = frozenset()
    # Signed events to internal services.
    event_urls: tuple[str, ...] = ()
    event_secret: str | None = field(default=None, repr=False)
    event_retry_delays: tuple[float, ...] = DEFAULT_EVENT_RETRY_DELAYS
    event_lease_seconds: float = 120.0
    event_retention: float = DEFAULT_EVENT_RETENTION
    schedule_reconcile_after: float = 600.0
    # When a charge or cancel is first looked up at I'mport by the service itself.
    pending_recheck_seconds: float = 60.0
    # What the operator should change (deprecated settings), logged at start-up.
    warnings: tuple[str, ...] = ()
    # BILLING_PROVIDER: iamport_v1 (the iamport_* settings above) or portone_v2 (these).
    provider: str = "iamport_v1"
    portone: PortOneSettings | None = None

    @property
    def longest_request(self) -> int:
        """Seconds the longest request can last (see longest_request)."""
        if self.portone is not None:
            return self.portone.longest_request
        return longest_request(self.connect_timeout, self.read_timeout)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check the environment; raise ConfigError saying what to fix."""
        key = env.get("IAMPORT_API_KEY", "").strip()
        secret = env.get("IAMPORT_API_SECRET", "").strip()
        sandbox = flag(env, "BILLING_SANDBOX")
        provider_name = provider(env)
        portone = None
        if provider_name == "portone_v2":
            portone = portone_settings(env, sandbox)
            url, proxy_url = None, portone.proxy_url
        else:
            _check_mode(sandbox, key, secret)
            url, proxy_url = _iamport_endpoint(env, sandbox)
        callers = parse_callers(env.get("BILLING_API_KEYS", ""))
        if not sandbox and not callers:
            raise ConfigError(
                "BILLING_API_KEYS is required with real provider credentials: "
                "comma-separated caller:secret pairs."
            )
        data_dir = env.get("BILLING_DATA_DIR", "").strip() or DEFAULT_DATA_DIR
        state_url, in_memory, warnings = _state_url(env, data_dir)
        fingerprint_key, previous_key = _fingerprint_keys(env)
        if not sandbox and not fingerprint_key:
            raise ConfigError(
                "BILLING_CARD_FINGERPRINT_KEY (32+ characters, from a secret) is required with "
                "real provider credentials: a key kept beside the data would let a copy of it "
                "give card numbers back. An instance that ran before keeps its key by copying "
                f"the value of BILLING_DATA_DIR/{CARD_FINGERPRINT_KEY_FILE} into the secret."
            )
        if state_url.startswith(REDIS_SCHEMES) and not fingerprint_key:
            raise ConfigError(
                "BILLING_CARD_FINGERPRINT_KEY is required with a redis:// BILLING_STATE_URL: "
                "every replica must turn a card (and a retried request) into the same key."
            )
        return cls(
            iamport_api_url=url,
            iamport_api_key=key or SANDBOX_API_KEY,
            iamport_api_secret=secret or SANDBOX_API_SECRET,
            connect_timeout=seconds(env, "IAMPORT_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=seconds(env, "IAMPORT_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            iamport_proxy_url=proxy_url,
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
            idempotency_ttl=seconds(env, "BILLING_IDEMPOTENCY_TTL", 86400.0),
            limits={name: limit(env, name, default) for name, default in DEFAULT_LIMITS.items()},
            card_fingerprint_key=fingerprint_key.encode() or None,
            card_fingerprint_key_previous=previous_key.encode() or None,
            channel_key=env.get("IAMPORT_CHANNEL_KEY", "").strip() or None,
            webhook_allowed_ips=addresses(env, "BILLING_WEBHOOK_ALLOWED_IPS") or None,
            webhook_token=webhook_token(env),
            trusted_proxies=addresses(env, "BILLING_TRUSTED_PROXIES"),
            event_urls=event_urls(env),
            event_secret=event_secret(env),
            event_retry_delays=delays(env, DEFAULT_EVENT_RETRY_DELAYS),
            event_lease_seconds=seconds(env, "BILLING_EVENT_LEASE_SECONDS", 120.0),
            event_retention=seconds(env, "BILLING_EVENT_RETENTION", DEFAULT_EVENT_RETENTION),
            schedule_reconcile_after=seconds(env, "BILLING_SCHEDULE_RECONCILE_AFTER", 600.0),
            pending_recheck_seconds=seconds(env, "BILLING_PENDING_RECHECK_SECONDS", 60.0),
            warnings=warnings + (v2_warnings(env, portone) if portone else ()),
            provider=provider_name,
            portone=portone,
        )


def _check_mode(sandbox: bool, key: str, secret: str) -> None:
    """Sandbox mode only when asked for, and never with real credentials (one or the other)."""
    if sandbox and (key or secret):
        raise ConfigError(
            "BILLING_SANDBOX=true and I'mport credentials are both set: unset IAMPORT_API_KEY "
            "and IAMPORT_API_SECRET to use the sandbox, or unset BILLING_SANDBOX to use I'mport."
        )
    if not sandbox and not (key and secret):
        raise ConfigError(
            "Set both IAMPORT_API_KEY and IAMPORT_API_SECRET (real I'mport), or neither and "
            "BILLING_SANDBOX=true (the I'mport sandbox: nothing real is charged)."
        )


def _iamport_endpoint(env: Mapping[str, str], sandbox: bool) -> tuple[str | None, str | None]:
    """IAMPORT_API_URL (None: start the bundled sandbox) and the proxy it is reached through."""
    url = env.get("IAMPORT_API_URL", "").strip() or (None if sandbox else DEFAULT_API_URL)
    if url is None:  # the bundled sandbox runs on loopback: never through a proxy
        return None, None
    try:
        check_api_url(url, clear_text_allowed=sandbox)
        return url, proxy_for(url, env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _fingerprint_keys(env: Mapping[str, str]) -> tuple[str, str]:
    """BILLING_CARD_FINGERPRINT_KEY and, during a rotation, the one before it."""
    keys = []
    for name in ("BILLING_CARD_FINGERPRINT_KEY", "BILLING_CARD_FINGERPRINT_KEY_PREVIOUS"):
        value = env.get(name, "").strip()
        if value and len(value) < MIN_FINGERPRINT_KEY_LENGTH:
            raise ConfigError(
                f"{name} must be at least {MIN_FINGERPRINT_KEY_LENGTH} characters "
                "(e.g. openssl rand -hex 32)."
            )
        keys.append(value)
    current, previous = keys
    if previous and not current:
        raise ConfigError(
            "BILLING_CARD_FINGERPRINT_KEY_PREVIOUS is set without BILLING_CARD_FINGERPRINT_KEY."
        )
    return current, previous


def _state_url(env: Mapping[str, str], data_dir: str) -> tuple[str, bool, tuple[str, ...]]:
    """BILLING_STATE_URL, or the deprecated BILLING_RATELIMIT_STORAGE, or the embedded store;
    only a redis:// URL with BILLING_REQUIRE_SHARED_STATE."""
    url = env.get("BILLING_STATE_URL", "").strip()
    if not url and "BILLING_STATE_URL" in env:
        # Most likely a Secret whose key was left blank: taken as unset, every replica would
        # quietly keep its own store, and a retry landing on another one would move money again.
        raise ConfigError(
            "BILLING_STATE_URL is set but empty: give the shared store's redis:// URL (or "
            "sqlite:///<path>), or remove the variable to use the embedded store."
        )
    alias = env.get("BILLING_RATELIMIT_STORAGE", "").strip()
    warnings: list[str] = []
    shared = flag(env, "BILLING_REQUIRE_SHARED_STATE")
    if shared and not (url or alias).startswith(REDIS_SCHEMES):
        raise ConfigError(
            "BILLING_REQUIRE_SHARED_STATE=true: BILLING_STATE_URL must be the redis:// URL every "
            "replica shares. An embedded sqlite:/// store is each instance's own, so a retry "
            "landing on another replica could charge or refund again."
        )
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


def _embedded(data_dir: str) -> str:
    return "sqlite:///" + os.path.join(data_dir, "state.db")
