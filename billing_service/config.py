"""Configuration, read from the environment in one place and checked before the service starts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

DEFAULT_API_URL = "https://api.iamport.kr"


class ConfigError(Exception):
    """The environment does not describe a service that can run."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    iamport_api_url: str | None  # None in sandbox mode: start the bundled sandbox
    iamport_api_key: str = field(repr=False)
    iamport_api_secret: str = field(repr=False)
    connect_timeout: float
    read_timeout: float
    callers: dict[str, str] = field(repr=False)  # caller name -> secret; empty: no caller auth
    sandbox: bool

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
        return cls(
            iamport_api_url=url,
            iamport_api_key=key or DEFAULT_API_KEY,
            iamport_api_secret=secret or DEFAULT_API_SECRET,
            connect_timeout=_seconds(env, "IAMPORT_CONNECT_TIMEOUT", 3.0),
            read_timeout=_seconds(env, "IAMPORT_READ_TIMEOUT", 30.0),
            callers=callers,
            sandbox=sandbox,
        )


def _parse_callers(value: str) -> dict[str, str]:
    callers: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, sep, secret = entry.partition(":")
        name, secret = name.strip(), secret.strip()
        if not sep or not name or not secret:
            raise ConfigError("BILLING_API_KEYS entries must look like caller:secret.")
        if name in callers:
            raise ConfigError(f"BILLING_API_KEYS names the caller {name!r} twice.")
        callers[name] = secret
    return callers


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
