"""The values of single settings, each read from the environment and checked."""

from __future__ import annotations

import base64
import ipaddress
import math
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from limits import parse_many


class ConfigError(Exception):
    """The environment does not describe a service that can run."""


def flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value not in _FLAG_VALUES:
        raise ConfigError(f"{name} must be true (or 1) or false (or 0, or unset).")
    return _FLAG_VALUES[value]


_FLAG_VALUES = {"true": True, "1": True, "false": False, "0": False, "": False}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def addresses(env: Mapping[str, str], name: str) -> frozenset[Network]:
    """Comma-separated IP addresses or CIDR ranges (IPv4 or IPv6), normalised: an address is a
    range of one (an ingress controller's pods change addresses within their range)."""
    networks = set()
    for part in filter(None, (p.strip() for p in env.get(name, "").split(","))):
        try:
            networks.add(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name} must be comma-separated IP addresses or CIDR ranges."
            ) from None
    return frozenset(networks)


def webhook_token(env: Mapping[str, str]) -> str | None:
    token = env.get("BILLING_WEBHOOK_TOKEN", "").strip()
    if token and not re.fullmatch("[A-Za-z0-9_-]{16,80}", token):
        raise ConfigError("BILLING_WEBHOOK_TOKEN must be 16-80 of [A-Za-z0-9_-].")
    return token or None


def event_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(filter(None, (u.strip() for u in env.get("BILLING_EVENT_URLS", "").split(","))))
    for url in urls:
        if not url.startswith(("http://", "https://")) or not urlsplit(url).hostname:
            raise ConfigError("BILLING_EVENT_URLS must be comma-separated http(s):// URLs.")
    return urls


def event_secret(env: Mapping[str, str]) -> str | None:
    secret = env.get("BILLING_EVENT_SECRET", "").strip()
    if not secret:
        if event_urls(env):
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


def delays(env: Mapping[str, str], default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get("BILLING_EVENT_RETRY_DELAYS", "").strip()
    if not raw:
        return default
    try:
        delays = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError("BILLING_EVENT_RETRY_DELAYS must be comma-separated seconds.") from None
    if not delays or not all(d >= 0 and math.isfinite(d) for d in delays):
        raise ConfigError("BILLING_EVENT_RETRY_DELAYS must be comma-separated seconds >= 0.")
    return delays


def limit(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate limit such as 10/hour or 5/minute.") from None
    return value


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
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
