"""Which PortOne API the service speaks (``BILLING_PROVIDER``), and PortOne V2's settings.

``iamport_v1`` (the default) is I'mport, configured by the ``IAMPORT_*`` variables; ``portone_v2``
is PortOne V2, configured by the ``PORTONE_*`` ones. One provider's credentials or settings next
to the other's stop the service at start: an operator half-way through a move must not be left
guessing which one answers. Only I'mport's timeouts, URL and channel, which a shared ConfigMap may
still carry, are ignored under V2, with a warning.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..gateway.endpoint import check_api_url, proxy_for
from .values import ConfigError, seconds

PROVIDERS = ("iamport_v1", "portone_v2")
DEFAULT_PORTONE_API_URL = "https://api.portone.io"
# The bundled V2 sandbox's defaults (python -m billing_service.sandbox --api v2 uses them;
# tests/test_config.py checks that they agree), as for I'mport's in config/__init__.py.
SANDBOX_PORTONE_SECRET = "portone_sandbox_secret"
SANDBOX_PORTONE_STORE_ID = "store-00000000-0000-0000-0000-000000000000"
# Its TEST channel (NICE), used in sandbox mode unless PORTONE_CHANNEL_KEY names another.
SANDBOX_PORTONE_CHANNEL_KEY = "channel-key-00000000-0000-0000-0000-000000000000"
# PortOne's timeout policy asks for reads of at least 60 s on calls that move money or create
# something (a PG can take that long to answer a charge); lookups, searches and deletes get 10 s.
DEFAULT_PORTONE_CONNECT_TIMEOUT = 3.0
DEFAULT_PORTONE_READ_TIMEOUT = 60.0
LOOKUP_READ_TIMEOUT = 10.0

V2_SETTINGS = (
    "PORTONE_API_SECRET",
    "PORTONE_API_URL",
    "PORTONE_STORE_ID",
    "PORTONE_CHANNEL_KEY",
    "PORTONE_CONNECT_TIMEOUT",
    "PORTONE_READ_TIMEOUT",
    "PORTONE_WEBHOOK_SECRET",
    "PORTONE_NOTICE_URL",
)
V1_CREDENTIALS = ("IAMPORT_API_KEY", "IAMPORT_API_SECRET")
# I'mport's settings that mean nothing under V2 but do no harm there (a ConfigMap shared by the
# two): ignored, with a warning.
V1_ONLY = (
    "IAMPORT_API_URL",
    "IAMPORT_CHANNEL_KEY",
    "IAMPORT_CONNECT_TIMEOUT",
    "IAMPORT_READ_TIMEOUT",
)

# The longest chains of V2 calls one request can make (no token: every call carries the
# secret). Each call is a lookup (LOOKUP_READ_TIMEOUT) or one that moves money or creates
# something (PORTONE_READ_TIMEOUT).
V2_LONGEST_CHAINS = {
    "pending charge": (
        ("key lookup -> replaced", "lookup"),
        ("key search", "lookup"),
        ("order lookup -> pending", "lookup"),
        ("charge -> no answer", "money"),
        ("order lookup", "lookup"),
    ),
    "declined charge": (
        ("key lookup -> replaced", "lookup"),
        ("key search", "lookup"),
        ("charge -> PG_PROVIDER", "money"),
        ("order lookup -> FAILED", "lookup"),
        ("key lookup", "lookup"),
    ),
    "lost cancel": (
        ("payment lookup -> another attempt", "lookup"),
        ("transaction search", "lookup"),
        ("payment lookup", "lookup"),
        ("cancel -> no answer", "money"),
        ("payment lookup", "lookup"),
    ),
}


@dataclass(frozen=True)
class PortOneSettings:
    """PortOne V2's settings (``BILLING_PROVIDER=portone_v2``)."""

    api_url: str | None  # None in sandbox mode: start the bundled V2 sandbox
    api_secret: str = field(repr=False)
    store_id: str
    channel_key: str | None
    connect_timeout: float
    read_timeout: float  # calls that move money or create something; lookups: 10 s
    proxy_url: str | None
    # PORTONE_WEBHOOK_SECRET: any of them verifies a webhook (two overlap during a rotation);
    # empty: webhooks are refused (503). Generated in sandbox mode, shared with the sandbox.
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    # PORTONE_NOTICE_URL: sent as noticeUrls with charges and schedules (None: the console's).
    notice_url: str | None = None

    @property
    def lookup_timeout(self) -> float:
        """The read timeout of lookups, searches and deletes: never longer than the other."""
        return min(LOOKUP_READ_TIMEOUT, self.read_timeout)

    @property
    def longest_request(self) -> int:
        """Seconds the longest V2 request can last (V2_LONGEST_CHAINS), and 5 s to spare."""
        reads = {"lookup": self.lookup_timeout, "money": self.read_timeout}
        longest = max(
            sum(self.connect_timeout + reads[kind] for _, kind in chain)
            for chain in V2_LONGEST_CHAINS.values()
        )
        return math.ceil(longest) + 5


def provider(env: Mapping[str, str]) -> str:
    """BILLING_PROVIDER, checked against what else the environment sets."""
    name = env.get("BILLING_PROVIDER", "").strip().lower() or "iamport_v1"
    if name not in PROVIDERS:
        raise ConfigError("BILLING_PROVIDER must be iamport_v1 (the default) or portone_v2.")
    if name == "iamport_v1":
        stray = [n for n in V2_SETTINGS if env.get(n, "").strip()]
        if stray:
            raise ConfigError(
                f"{', '.join(stray)} set with BILLING_PROVIDER=iamport_v1: set "
                "BILLING_PROVIDER=portone_v2 to use PortOne V2, or unset them."
            )
    else:
        mixed = [n for n in V1_CREDENTIALS if env.get(n, "").strip()]
        if mixed:
            raise ConfigError(
                f"{', '.join(mixed)} set with BILLING_PROVIDER=portone_v2: PortOne V2 takes "
                "only PORTONE_API_SECRET. Unset the I'mport credentials."
            )
    return name


def v2_warnings(env: Mapping[str, str], settings: PortOneSettings) -> tuple[str, ...]:
    """The warnings of a V2 environment: I'mport's settings left in it, no webhook secret."""
    ignored = tuple(
        f"{name} is ignored with BILLING_PROVIDER=portone_v2 (PORTONE_* settings apply)."
        for name in V1_ONLY
        if env.get(name, "").strip()
    )
    if settings.webhook_secrets:
        return ignored
    return (
        *ignored,
        "PORTONE_WEBHOOK_SECRET is not set: PortOne V2's webhooks will be answered 503 until "
        "it is (the follow-ups still find each change).",
    )


def portone_settings(env: Mapping[str, str], sandbox: bool) -> PortOneSettings:
    """PortOne V2's settings; refuse what cannot run (ConfigError saying what to fix)."""
    secret = env.get("PORTONE_API_SECRET", "").strip()
    store_id = env.get("PORTONE_STORE_ID", "").strip()
    if sandbox and secret:
        raise ConfigError(
            "BILLING_SANDBOX=true and PORTONE_API_SECRET are both set: unset the secret to use "
            "the PortOne V2 sandbox, or unset BILLING_SANDBOX to use PortOne."
        )
    if not sandbox and not secret:
        raise ConfigError(
            "Set PORTONE_API_SECRET (PortOne V2's API secret), or BILLING_SANDBOX=true "
            "(the PortOne V2 sandbox: nothing real is charged)."
        )
    if not sandbox and not store_id:
        raise ConfigError(
            "PORTONE_STORE_ID is required with PortOne V2: without it a billing-key search "
            "spans every store of the merchant."
        )
    url = env.get("PORTONE_API_URL", "").strip() or (None if sandbox else DEFAULT_PORTONE_API_URL)
    proxy_url = None
    if url is not None:
        try:
            check_api_url(url, clear_text_allowed=sandbox, name="PORTONE_API_URL")
            proxy_url = proxy_for(url, env)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    return PortOneSettings(
        api_url=url,
        api_secret=secret or SANDBOX_PORTONE_SECRET,
        store_id=store_id or SANDBOX_PORTONE_STORE_ID,
        channel_key=env.get("PORTONE_CHANNEL_KEY", "").strip()
        or (SANDBOX_PORTONE_CHANNEL_KEY if sandbox else None),
        connect_timeout=seconds(env, "PORTONE_CONNECT_TIMEOUT", DEFAULT_PORTONE_CONNECT_TIMEOUT),
        read_timeout=seconds(env, "PORTONE_READ_TIMEOUT", DEFAULT_PORTONE_READ_TIMEOUT),
        proxy_url=proxy_url,
        webhook_secrets=webhook_secrets(env, sandbox),
        notice_url=notice_url(env, sandbox),
    )


def webhook_secrets(env: Mapping[str, str], sandbox: bool) -> tuple[str, ...]:
    """PORTONE_WEBHOOK_SECRET's secrets (``whsec_`` and base64, as PortOne's console shows
    them), comma-separated; in sandbox mode without it, one generated here (gunicorn's master
    hands it to its workers and to the sandbox it starts)."""
    given = tuple(s.strip() for s in env.get("PORTONE_WEBHOOK_SECRET", "").split(",") if s.strip())
    for secret in given:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) < 16:
            raise ConfigError(
                "PORTONE_WEBHOOK_SECRET must be PortOne's webhook secrets as its console shows "
                "them (whsec_ and base64, 16+ bytes), comma-separated."
            )
    if given or not sandbox:
        return given
    return ("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),)


def notice_url(env: Mapping[str, str], sandbox: bool) -> str | None:
    """PORTONE_NOTICE_URL: where PortOne sends a charge's or schedule's webhooks instead of the
    console's URL (https; http too in sandbox mode)."""
    url = env.get("PORTONE_NOTICE_URL", "").strip()
    if not url:
        return None
    try:
        check_api_url(url, clear_text_allowed=sandbox, name="PORTONE_NOTICE_URL")
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return url
