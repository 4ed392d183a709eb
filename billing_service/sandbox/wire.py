"""What every provider's fake puts on the wire: request, reply, route, JSON and form bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

# The content type the live I'mport server was observed to send (ruby client issue #23).
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
# Pace of the trickle faults: one body byte per interval, so an answer of a few hundred bytes
# takes over a minute while each byte comes well within any read timeout.
TRICKLE_INTERVAL = 0.2

C = TypeVar("C")  # what a provider's handlers receive besides the request (its Context)


@dataclass
class Request:
    """A parsed request; `body` holds JSON or form fields, `params` the path placeholders,
    `headers` the request headers by lower-case name."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def field(self, name: str) -> str | None:
        """Return a body field as a string; numbers are stringified, objects/lists ignored."""
        value = self.body.get(name)
        if value is None or isinstance(value, (dict, list, bool)):
            return None
        return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer. Handlers return None instead to reset the connection.

    ``delay``: seconds to hold the answer back after the call is processed and logged (the
    hang faults), so a caller that gave up can already see what happened.
    ``trickle``: when set, the headers go out at once and then the body one byte every
    ``trickle`` seconds (the trickle faults): no single wait is long, the whole answer is.
    ``head_trickle``: the same for the status line and headers (the `trickle_headers` route
    fault), which catches a client whose total deadline only starts once the headers are in.
    """

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    trickle: float = 0.0
    head_trickle: float = 0.0


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """Serialise compact UTF-8 JSON (Korean messages stay readable).

    A lone surrogate a client sent (legal in JSON, not in UTF-8) goes back out as its \\u escape.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    body = text.encode("utf-8", "backslashreplace")
    return Reply(status, body, JSON_CONTENT_TYPE, headers)


def parse_body(raw: bytes, content_type: str) -> dict[str, Any] | None:
    """JSON or form-encoded body as a dict (I'mport accepts both); None if unreadable."""
    if not raw.strip():
        return {}
    if "application/x-www-form-urlencoded" in content_type.lower():
        # Flat keys only: nested form params arrive literally as `extra[requester]`.
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route(Generic[C]):
    """One endpoint: method + path template such as `/subscribe/customers/{customer_uid}`."""

    method: str
    template: str
    handler: Callable[[C, Request], Reply | None]
    auth: bool = True  # needs the provider's credentials (a token, a secret)
    token_call: bool = False  # issues tokens: subject to the extra `token_latency_ms`
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A placeholder matches one raw path segment; the handler sees it percent-decoded.
        regex, pos = "", 0
        for match in _PLACEHOLDER.finditer(self.template):
            regex += re.escape(self.template[pos : match.start()]) + f"(?P<{match[1]}>[^/]+)"
            pos = match.end()
        regex += re.escape(self.template[pos:])
        object.__setattr__(self, "pattern", re.compile(regex))

    @property
    def key(self) -> str:
        """``"POST /payments/cancel"``: how the call log counts it and route faults name it."""
        return f"{self.method} {self.template}"


@dataclass(frozen=True)
class Match(Generic[C]):
    """Where a path led: the route (None: 404 or 405), its template, placeholders, methods."""

    route: Route[C] | None
    template: str | None  # also for a 405: the call log counts it under its route
    params: dict[str, str]
    allowed: list[str]  # the methods the path takes, for a 405's `Allow`


def match(routes: tuple[Route[C], ...], method: str, path: str) -> Match[C]:
    """The route for a request; `route` None means 404 (no `allowed`) or 405."""
    template: str | None = None
    allowed: list[str] = []
    for route in routes:
        found = route.pattern.fullmatch(path)
        if found is None:
            continue
        params = {name: unquote(value) for name, value in found.groupdict().items()}
        if route.method == method:
            return Match(route, route.template, params, allowed)
        template = route.template
        allowed.append(route.method)
    return Match(None, template, {}, allowed)


def valid_url(url: object) -> bool:
    """An absolute http(s) URL with a host."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
