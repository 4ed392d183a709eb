"""I'mport V1 on the wire: the `{code, message, response}` envelope, its fixed answers, the
handlers' Context."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..wire import Reply, json_reply
from .notices import Notices
from .state import SandboxState

# The body of the sandbox's HTTP 500 faults (sandbox wording; the real text is unknown).
MSG_SERVER_ERROR = "[sandbox] 일시적인 서버 오류가 발생했습니다."
# Checked on issuance (path) and on `again` (body): spec `maxLength: 80`, old docs "String(80)".
MAX_CUSTOMER_UID_LENGTH = 80
MSG_UNAUTHORIZED = "Unauthorized"


@dataclass(frozen=True)
class Context:
    """What endpoint handlers may use besides the request."""

    state: SandboxState
    stopping: threading.Event  # set by shutdown(): waits must end early
    hang_seconds: float
    notices: Notices  # webhook notices: handlers queue them, a background thread sends them


def envelope(
    status: int,
    code: int,
    message: str | None,
    response: Any = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """I'mport's `{code, message, response}` envelope, used for successes and errors alike."""
    return json_reply(status, {"code": code, "message": message, "response": response}, headers)


# 401 for a missing/invalid/expired token. The `WWW-Authenticate: iamport` header was agreed
# in iamport-rest-client issue #2 (2015); the body shape is the usual envelope (UNCONFIRMED).
UNAUTHORIZED_REPLY = envelope(401, -1, MSG_UNAUTHORIZED, headers=(("WWW-Authenticate", "iamport"),))
SERVER_ERROR_REPLY = envelope(500, -1, MSG_SERVER_ERROR)
