"""Sandbox-only control endpoints under `/__sandbox__/` (no auth, plain JSON, not logged)."""

from __future__ import annotations

import dataclasses
import math

from . import checkout, faults, iamport, notices, payments, schedules
from . import clock as clock_moves
from .state import CONFIG_CHOICES, CONFIG_NULLABLE, CONFIG_TYPES
from .wire import Context, Reply, Request, Route, json_reply

PREFIX = "/__sandbox__/"
# Route faults name a route as the call log counts it: "POST /payments/cancel".
FAULT_ROUTES = tuple(route.key for route in iamport.ROUTES)
_FAULT_FIELDS = ("route", "fault", "times")
_CLOCK_FIELDS = ("advance", "to")
MAX_NOTICE_WAIT = 60.0  # seconds a `notices/wait` may block
MAX_RESEND_TIMES = 100


def _bad_request(message: str) -> Reply:
    return json_reply(400, {"error": message})


def calls(ctx: Context, req: Request) -> Reply:
    """Per-route counts and the recent call list (no bodies, card data or tokens)."""
    return json_reply(200, ctx.state.calls_snapshot())


def reset(ctx: Context, req: Request) -> Reply:
    """Back to a freshly started sandbox (start-up config, real clock, nothing stored, no
    schedules, no notices; notices still queued are dropped)."""
    with ctx.state.execution_lock:  # not in the middle of an execution
        ctx.state.reset()
        ctx.notices.reset()
    return json_reply(200, {"reset": True, "now": ctx.state.now()})


def _move_to(target: float) -> clock_moves.Move:
    def move(current: float) -> float:
        # The current second is not backwards, only an earlier one is.
        return max(target, current) if math.floor(target) >= math.floor(current) else target

    return move


def clock(ctx: Context, req: Request) -> Reply:
    """Move the sandbox clock forward, then execute what became due before answering.

    `{"advance": seconds}`, `{"advance": "P1M"}` (ISO 8601 duration, calendar units in KST) or
    `{"to": UNIX seconds | "2026-02-01T00:00:00+09:00"}`; answers `{"now", "executed"}`.
    """
    unknown = sorted(set(req.body) - set(_CLOCK_FIELDS))
    if unknown:
        return _bad_request(f"unknown field(s) {unknown}; known: {list(_CLOCK_FIELDS)}")
    if len(req.body) != 1:
        return _bad_request("send exactly one of advance, to")
    move: clock_moves.Move | str
    if "advance" in req.body:
        move = clock_moves.advance(req.body["advance"])
    else:
        target = clock_moves.to(req.body["to"])
        move = target if isinstance(target, str) else _move_to(target)
    if isinstance(move, str):
        return _bad_request(move)
    try:
        now = ctx.state.move_clock(move)
    except (ValueError, OverflowError, OSError):
        return _bad_request("the clock only moves forward (and stays within year 9999)")
    executed = schedules.execute_due(ctx)
    return json_reply(200, {"now": now, "executed": executed})


def expire_tokens(ctx: Context, req: Request) -> Reply:
    """Expire the current token now; business calls get 401, getToken then issues a new one."""
    return json_reply(200, {"expired": ctx.state.expire_tokens(), "now": ctx.state.now()})


def get_config(ctx: Context, req: Request) -> Reply:
    """Current run-time switches."""
    return json_reply(200, dataclasses.asdict(ctx.state.config))


def set_config(ctx: Context, req: Request) -> Reply:
    """Change any of the switches in state.CONFIG_TYPES; one bad value changes nothing."""
    changes: dict[str, object] = {}
    for name, value in req.body.items():
        expected = CONFIG_TYPES.get(name)
        if expected is None:
            return _bad_request(f"unknown config key {name!r}; known: {sorted(CONFIG_TYPES)}")
        if value is None and name in CONFIG_NULLABLE:
            changes[name] = None
            continue
        if name == "webhook_url" and not notices.valid_url(value):
            return _bad_request("webhook_url must be an http(s) URL or null")
        if name.endswith("_timeout_ms") and (type(value) is not int or value < 1):
            return _bad_request(f"{name} must be an int >= 1")
        # bool is a subclass of int: reject `true` for a millisecond field explicitly.
        if type(value) is not expected:
            return _bad_request(f"{name} must be {expected.__name__}")
        choices = CONFIG_CHOICES.get(name)
        if choices is not None:
            if value not in choices:
                return _bad_request(f"{name} must be one of {list(choices)}")
        elif isinstance(value, int) and value < 0:
            return _bad_request(f"{name} must be >= 0")
        changes[name] = value
    return json_reply(200, dataclasses.asdict(ctx.state.update_config(changes)))


def list_faults(ctx: Context, req: Request) -> Reply:
    """The route faults still queued, oldest first."""
    return json_reply(200, {"faults": ctx.state.faults_snapshot()})


def queue_fault(ctx: Context, req: Request) -> Reply:
    """`{"route", "fault", "times"}`: fault the next `times` calls of a route; a bad field
    queues nothing."""
    unknown = sorted(set(req.body) - set(_FAULT_FIELDS))
    if unknown:
        return _bad_request(f"unknown field(s) {unknown}; known: {list(_FAULT_FIELDS)}")
    route, fault = req.body.get("route"), req.body.get("fault")
    times = req.body.get("times", 1)
    # isinstance first: a list or an object would not even compare with the names.
    if not isinstance(route, str) or route not in FAULT_ROUTES:
        return _bad_request(f"route must be one of {list(FAULT_ROUTES)}")
    if not isinstance(fault, str) or fault not in faults.NAMES:
        return _bad_request(f"fault must be one of {list(faults.NAMES)}")
    if type(times) is not int or times < 1:  # bool is an int subclass: refuse `true`
        return _bad_request("times must be an int >= 1")
    return json_reply(200, {"faults": ctx.state.queue_fault(route, fault, times)})


def settle_payment(ctx: Context, req: Request) -> Reply:
    """`{"status": "paid" | "failed"}`: the PG's late answer to a `ready` payment."""
    status = req.body.get("status")
    if not isinstance(status, str) or status not in payments.SETTLE_STATUSES:
        return _bad_request(f"status must be one of {list(payments.SETTLE_STATUSES)}")
    now = ctx.state.now()
    refusal, payment = ctx.state.update_payment(
        req.params["imp_uid"], None, lambda live: payments.settle(live, status, now)
    )
    if payment is None:
        return json_reply(404, {"error": refusal})
    if refusal is not None:
        return _bad_request(refusal)
    if status == payments.PAID:  # a late approval is notified like any approval
        ctx.notices.notify(ctx.state.notice_url(payment["imp_uid"]), payments.notice_body(payment))
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
        return _bad_request("id must be the int id of a recorded notice")
    times = _whole(req.body.get("times"), 1, 1, MAX_RESEND_TIMES)
    if times is None:
        return _bad_request(f"times must be an int from 1 to {MAX_RESEND_TIMES}")
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
        return _bad_request(f"unknown field(s) {unknown}; known: {list(_SEND_FIELDS)}")
    body = {}
    for name in ("imp_uid", "merchant_uid", "status"):
        if not isinstance(req.body.get(name), str):
            return _bad_request(f"{name} must be a string")
        body[name] = req.body[name]
    if "cancellation_id" in req.body:
        if not isinstance(req.body["cancellation_id"], str):
            return _bad_request("cancellation_id must be a string")
        body["cancellation_id"] = req.body["cancellation_id"]
    config = ctx.state.config
    url = req.body.get("url", config.webhook_url)
    if not notices.valid_url(url):
        return _bad_request("url must be an http(s) URL (no webhook_url is configured)")
    format = req.body.get("format", config.webhook_format)
    if format not in CONFIG_CHOICES["webhook_format"]:
        return _bad_request(f"format must be one of {list(CONFIG_CHOICES['webhook_format'])}")
    ctx.notices.enqueue(str(url), str(format), body, 1)
    return json_reply(200, {"queued": 1})


def wait_notices(ctx: Context, req: Request) -> Reply:
    """`{"count": n, "timeout": s}`: block until n notices were attempted since the reset;
    200 with the record, or 408 with it after `timeout` seconds (default 5)."""
    count = _whole(req.body.get("count"), 1, 0, 1_000_000)
    if count is None:
        return _bad_request("count must be an int >= 0")
    timeout = req.body.get("timeout", 5)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 <= timeout <= MAX_NOTICE_WAIT
    ):
        return _bad_request(f"timeout must be a number of seconds from 0 to {MAX_NOTICE_WAIT:g}")
    reached, record = ctx.notices.wait(count, float(timeout))
    if not reached:
        error = f"only {len(record)} of {count} notices attempted within {timeout} s"
        return json_reply(408, {"error": error, "notices": record})
    return json_reply(200, {"notices": record})


ROUTES: tuple[Route, ...] = (
    Route("GET", PREFIX + "calls", calls, auth=False),
    Route("POST", PREFIX + "reset", reset, auth=False),
    Route("POST", PREFIX + "clock", clock, auth=False),
    Route("POST", PREFIX + "tokens/expire", expire_tokens, auth=False),
    Route("GET", PREFIX + "config", get_config, auth=False),
    Route("POST", PREFIX + "config", set_config, auth=False),
    Route("GET", PREFIX + "faults", list_faults, auth=False),
    Route("POST", PREFIX + "faults", queue_fault, auth=False),
    Route("POST", PREFIX + "payments/checkout", checkout.checkout, auth=False),
    Route("POST", PREFIX + "payments/{imp_uid}/settle", settle_payment, auth=False),
    Route("GET", PREFIX + "notices", list_notices, auth=False),
    Route("POST", PREFIX + "notices/resend", resend_notice, auth=False),
    Route("POST", PREFIX + "notices/send", send_notice, auth=False),
    Route("POST", PREFIX + "notices/wait", wait_notices, auth=False),
)
