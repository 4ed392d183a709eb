"""Where I'mport is and how it is reached: the rules of its URL, and the proxy the environment
names for it, read as requests and curl read them. Checked once at start-up (config.py turns a
ValueError into its ConfigError)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit


def check_api_url(url: str, *, clear_text_allowed: bool, name: str = "IAMPORT_API_URL") -> None:
    """Refuse (ValueError) what is not an http(s) URL, and http:// to a host that is not
    loopback unless ``clear_text_allowed``: real credentials never travel in clear text."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http:// or https:// URL.")
    if parts.scheme == "http" and not clear_text_allowed and not _loopback(parts.hostname):
        raise ValueError(
            f"{name} must be https:// with real credentials: http:// only for a "
            "loopback host (127.0.0.0/8, ::1, localhost) or with BILLING_SANDBOX=true."
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy ``url`` is reached through, as ``<scheme>_proxy``/``all_proxy``/``no_proxy``
    say (lower case first, as curl and requests read them); ValueError if it is malformed.
    Never one for a loopback host: http:// to it is allowed because the credentials stay on the
    machine, and a proxy would carry them elsewhere in clear text."""

    def variable(name: str) -> str:
        return (env.get(name) or env.get(name.upper()) or "").strip()

    parts = urlsplit(url)
    proxy = variable(f"{parts.scheme}_proxy") or variable("all_proxy")
    if not proxy:
        return None
    if not proxy.startswith(("http://", "https://")):
        # Not echoed: a proxy URL may hold a password.
        raise ValueError("The proxy for I'mport (*_proxy) must be an http:// or https:// URL.")
    host = (parts.hostname or "").lower()
    if _loopback(host):
        return None
    for entry in variable("no_proxy").lower().split(","):
        domain = entry.strip().rsplit(":", 1)[0].lstrip(".")  # "*", a host, or a .domain
        if domain == "*" or (domain and (host == domain or host.endswith("." + domain))):
            return None
    return proxy
