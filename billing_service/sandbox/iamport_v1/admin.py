"""The I'mport V1 fake's own control endpoints under `/__sandbox__/`: token expiry, config,
late PG answers, window payments, webhook notices (no auth, plain JSON, not logged)."""

from __future__ import annotations

import dataclasses

from ..admin import PREFIX, bad_request, config_changes
from ..wire import Reply, Request, Route, json_reply, valid_url
from . import checkout, records
from .config import CONFIG_CHOICES, CONFIG_NULLABLE, CONFIG_TYPES
from .wire import Context

MAX_NOTICE_WAIT = 60.0  # seconds a `notices/wait` may block
MAX_RESEND_TIMES = 100


def expire_tokens(ctx: Context, req: Request) -> Reply:
    """Expire the current token now; business calls get 401, getToken then issues a new one."""
    return json_reply(200, {"expired": ctx.state.tokens.expire_tokens(), "now": ctx.state.now()})


def get_config(ctx: Context, req: Request) -> Reply:
    """Current run-time switches."""
    return json_reply(200, dataclasses.asdict(ctx.state.config))


def _check(name: str, value: object) -> str | None:
    """I'mport's own rules: a webhook URL, timeouts of at least a millisecond."""
    if name == "webhook_url" and not valid_url(value):
        return "webhook_url must be an http(s) URL or null"
    if name.endswith("_timeout_ms") and (type(value) is not int or value < 1):
        return f"{name} must be an int >= 1"
    return None


def set_config(ctx: Context, req: Request) -> Reply:
    """Change any of the switches in config.CONFIG_TYPES; one bad value changes nothing."""
    changes = config_changes(req.body, CONFIG_TYPES, CONFIG_CHOICES, CONFIG_NULLABLE, _check)
    if isinstance(changes, str):
        return bad_request(changes)
    return json_reply(200, dataclasses.asdict(ctx.state.update_config(changes)))


def settle_payment(ctx: Context, req: Request) -> Reply:
    """`{"status": "paid" | "failed"}`: the PG's late answer to a `ready` payment."""
    status = req.body.get("status")
    if not isinstance(status, str) or status not in records.SETTLE_STATUSES:
        return bad_request(f"status must be one of {list(records.SETTLE_STATUSES)}")
    now = ctx.state.now()
    refusal, payment = ctx.state.update_payment(
        req.params["imp_uid"], None, lambda live: records.settle(live, status, now)
    )
    if payment is None:
        return json_reply(404, {"error": refusal})
    if refusal is not None:
        return bad_request(refusal)
    if status == records.PAID:  # a late approval is notified like any approval
        ctx.notices.notify(ctx.state.notice_url(payment["imp_uid"]), records.notice_body(payment))
    return json_reply(200, payment)


# --- webhook notices ---


def list_notices(ctx: Context, req: Request) -> Reply:
    """Every notice attempted since the reset, oldest first."""
    return json_reply(200, {"notices": ctx.notices.snapshot()})


def _whole(value: object, default: int, minimum: int, maximum: int) -> int | None:
    value = default if value is None else value
    if type(value) is not int or not minimum <= value <= maximum:
        return None
    return value


def resend_notice(ctx: Context, req: Request) -> Reply:
    """`{"id": n, "times": k}`: send a recorded notice again, k times (duplicates)."""
    notice_id = req.body.get("id")
    if type(notice_id) is not int:
        return bad_request("id must be the int id of a recorded notice")
    times = _whole(req.body.get("times"), 1, 1, MAX_RESEND_TIMES)
    if times is None:
        return bad_request(f"times must be an int from 1 to {MAX_RESEND_TIMES}")
    record = ctx.notices.get(notice_id)
    if record is None:
        return json_reply(404, {"error": f"no notice with id {notice_id}"})
    ctx.notices.enqueue(record["url"], record["format"], record["body"], times)
    return json_reply(200, {"queued": times})


_SEND_FIELDS = ("imp_uid", "merchant_uid", "status", "cancellation_id", "url", "format")


def send_notice(ctx: Context, req: Request) -> Reply:
    """`{"imp_uid", "merchant_uid", "status", "cancellation_id"?, "url"?, "format"?}`: send
    any notice, true or forged, to `url` (else the webhook URL) in `format` (else the
    configured one)."""
    unknown = sorted(set(req.body) - set(_SEND_FIELDS))
    if unknown:
        return bad_request(f"unknown field(s) {unknown}; known: {list(_SEND_FIELDS)}")
    body = {}
    for name in ("imp_uid", "merchant_uid", "status"):
        if not isinstance(req.body.get(name), str):
            return bad_request(f"{name} must be a string")
        body[name] = req.body[name]
    if "cancellation_id" in req.body:
        if not isinstance(req.body["cancellation_id"], str):
            return bad_request("cancellation_id must be a string")
        body["cancellation_id"] = req.body["cancellation_id"]
    config = ctx.state.config
    url = req.body.get("url", config.webhook_url)
    if not valid_url(url):
        return bad_request("url must be an http(s) URL (no webhook_url is configured)")
    format = req.body.get("format", config.webhook_format)
    if format not in CONFIG_CHOICES["webhook_format"]:
        return bad_request(f"format must be one of {list(CONFIG_CHOICES['webhook_format'])}")
    ctx.notices.enqueue(str(url), str(format), body, 1)
    return json_reply(200, {"queued": 1})


def wait_notices(ctx: Context, req: Request) -> Reply:
    """`{"count": n, "timeout": s}`: block until n notices were attempted since the reset;
    200 with the record, or 408 with it after `timeout` seconds (default 5)."""
    count = _whole(req.body.get("count"), 1, 0, 1_000_000)
    if count is None:
        return bad_request("count must be an int >= 0")
    timeout = req.body.get("timeout", 5)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 <= timeout <= MAX_NOTICE_WAIT
    ):
        return bad_request(f"timeout must be a number of seconds from 0 to {MAX_NOTICE_WAIT:g}")
    reached, record = ctx.notices.wait(count, float(timeout))
    if not reached:
        error = f"only {len(record)} of {count} notices attempted within {timeout} s"
        return json_reply(408, {"error": error, "notices": record})
    return json_reply(200, {"notices": record})


ROUTES: tuple[Route[Context], ...] = (
    Route("POST", PREFIX + "tokens/expire", expire_tokens, auth=False),
    Route("GET", PREFIX + "config", get_config, auth=False),
    Route("POST", PREFIX + "config", set_config, auth=False),
    Route("POST", PREFIX + "payments/checkout", checkout.checkout, auth=False),
    Route("POST", PREFIX + "payments/{imp_uid}/settle", settle_payment, auth=False),
    Route("GET", PREFIX + "notices", list_notices, auth=False),
    Route("POST", PREFIX + "notices/resend", resend_notice, auth=False),
    Route("POST", PREFIX + "notices/send", send_notice, auth=False),
    Route("POST", PREFIX + "notices/wait", wait_notices, auth=False),
)
