"""Value types shared by the sandbox modules: context, request, reply, route, I'mport envelope."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .notices import Notices
from .state import SandboxState

# The content type the live server was observed to send (ruby client issue #23 header dump).
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
# The body of the sandbox's HTTP 500 faults (sandbox wording; the real text is unknown).
MSG_SERVER_ERROR = "[sandbox] 일시적인 서버 오류가 발생했습니다."
# Checked on issuance (path) and on `again` (body): spec `maxLength: 80`, old docs "String(80)".
MAX_CUSTOMER_UID_LENGTH = 80
# Pace of the trickle faults: one body byte per interval, so an answer of a few hundred bytes
# takes over a minute while each byte comes well within any read timeout.
TRICKLE_INTERVAL = 0.2


@dataclass(frozen=True)
class Context:
    """What endpoint handlers may use besides the request."""

    state: SandboxState
    stopping: threading.Event  # set by shutdown(): waits must end early
    hang_seconds: float
    notices: Notices  # webhook notices: handlers queue them, a background thread sends them


@dataclass
class Request:
    """A parsed request; `body` holds JSON or form fields, `params` the path placeholders."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

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


Handler = Callable[[Context, Request], "Reply | None"]


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """Serialise compact UTF-8 JSON (Korean messages stay readable).

    A lone surrogate a client sent (legal in JSON, not in UTF-8) goes back out as its \\u escape.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    body = text.encode("utf-8", "backslashreplace")
    return Reply(status, body, JSON_CONTENT_TYPE, headers)


def envelope(
    status: int,
    code: int,
    message: str | None,
    response: Any = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """I'mport's `{code, message, response}` envelope, used for successes and errors alike."""
    return json_reply(status, {"code": code, "message": message, "response": response}, headers)


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """One endpoint: method + path template such as `/subscribe/customers/{customer_uid}`."""

    method: str
    template: str
    handler: Handler
    auth: bool = True  # needs an access token
    token_call: bool = False  # subject to the extra `token_latency_ms`
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
