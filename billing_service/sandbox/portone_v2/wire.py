"""PortOne V2 on the wire: `{type, message}` errors, RFC 3339 times, query-or-body requests,
field checks, and the handlers' Context."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..wire import Reply, Request, json_reply
from .state import V2State

if TYPE_CHECKING:  # webhooks.py writes times with rfc3339 below
    from .webhooks import Webhooks

MSG_UNAUTHORIZED = "인증 정보가 올바르지 않습니다."  # sandbox wording; real text unknown
MSG_SERVER_ERROR = "[sandbox] 일시적인 서버 오류가 발생했습니다."
MSG_FORBIDDEN = "요청한 상점에 접근할 권한이 없습니다."  # sandbox wording


@dataclass(frozen=True)
class Context:
    """What endpoint handlers may use besides the request."""

    state: V2State
    stopping: threading.Event  # set by shutdown(): waits must end early
    hang_seconds: float
    webhooks: Webhooks


def error(status: int, kind: str, message: str, **extra: Any) -> Reply:
    """PortOne's error body: `{"type": UPPER_SNAKE, "message", ...}` (PG_PROVIDER adds pgCode,
    pgMessage)."""
    return json_reply(status, {"type": kind, "message": message, **extra})


def invalid(message: str) -> Reply:
    """400 INVALID_REQUEST."""
    return error(400, "INVALID_REQUEST", message)


def pg_provider(message: str, pg_code: str, pg_message: str) -> Reply:
    """502 PG_PROVIDER: the PG refused (a decline, a refused card, a refused cancel)."""
    return error(502, "PG_PROVIDER", message, pgCode=pg_code, pgMessage=pg_message)


UNAUTHORIZED_REPLY = error(401, "UNAUTHORIZED", MSG_UNAUTHORIZED)
# An error PortOne does not document (§6 "other 5xx"): a JSON body with a type no client knows.
SERVER_ERROR_REPLY = error(500, "INTERNAL_SERVER_ERROR", MSG_SERVER_ERROR)
FORBIDDEN_REPLY = error(403, "FORBIDDEN", MSG_FORBIDDEN)


def rfc3339(seconds: float) -> str:
    """RFC 3339 in UTC with a `Z`, as PortOne writes times (absent field = never)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> float | None:
    """An RFC 3339 time (with an offset or `Z`) as UNIX seconds; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    return None if moment.tzinfo is None else moment.timestamp()


def query_or_body(req: Request) -> dict[str, Any] | Reply:
    """The input of a GET that takes a JSON body or the JSON text in `?requestBody=` (the SDK's
    way); the query wins when both are sent."""
    text = req.query.get("requestBody")
    if text is None:
        return req.body
    try:
        data = json.loads(text)
    except ValueError:
        return invalid("requestBody must be JSON")
    return data if isinstance(data, dict) else invalid("requestBody must be a JSON object")


def store_refusal(ctx: Context, store_id: Any) -> Reply | None:
    """A `storeId` (query or body) other than the sandbox's store: 403 FORBIDDEN."""
    if store_id is None or store_id == ctx.state.store_id:
        return None
    if not isinstance(store_id, str):
        return invalid("storeId must be a string")
    return FORBIDDEN_REPLY


def is_int(value: Any) -> bool:
    """A JSON integer (not a bool, not 1.0)."""
    return type(value) is int


def optional_str(body: dict[str, Any], name: str) -> str | None | Reply:
    """An optional string field: None when absent, a 400 when it is not a string."""
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    return invalid(f"{name} must be a string")


@dataclass(frozen=True)
class Party:
    """What an issuance and a payment both carry besides their own fields."""

    customer: dict[str, Any] | None
    custom_data: str | None
    notice_urls: list[str] | None


def read_party(body: dict[str, Any]) -> Party | Reply:
    """`customer` (an object), `customData` (a string) and `noticeUrls` (strings), each
    optional; a 400 for the first that is malformed."""
    customer = body.get("customer")
    if customer is not None and not isinstance(customer, dict):
        return invalid("customer must be an object")
    custom_data = optional_str(body, "customData")
    if isinstance(custom_data, Reply):
        return custom_data
    notice_urls = body.get("noticeUrls")
    if notice_urls is not None and not (
        isinstance(notice_urls, list) and all(isinstance(url, str) for url in notice_urls)
    ):
        return invalid("noticeUrls must be a list of strings")
    return Party(customer, custom_data, notice_urls)
