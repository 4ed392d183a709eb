"""Sandbox-only control endpoints under `/__sandbox__/` (no auth, plain JSON, not logged)."""

from __future__ import annotations

import dataclasses
import math

from . import faults, iamport, payments
from .state import CONFIG_CHOICES, CONFIG_TYPES
from .wire import Context, Reply, Request, Route, json_reply

PREFIX = "/__sandbox__/"
# Route faults name a route as the call log counts it: "POST /payments/cancel".
FAULT_ROUTES = tuple(route.key for route in iamport.ROUTES)
_FAULT_FIELDS = ("route", "fault", "times")


def _bad_request(message: str) -> Reply:
    return json_reply(400, {"error": message})


def calls(ctx: Context, req: Request) -> Reply:
    """Per-route counts and the recent call list (no bodies, card data or tokens)."""
    return json_reply(200, ctx.state.calls_snapshot())


def reset(ctx: Context, req: Request) -> Reply:
    """Back to a freshly started sandbox (start-up config, real clock, nothing stored)."""
    ctx.state.reset()
    return json_reply(200, {"reset": True, "now": ctx.state.now()})


def clock(ctx: Context, req: Request) -> Reply:
    """`{"advance": seconds}` moves the sandbox clock forward (tokens expire, months turn)."""
    advance = req.body.get("advance")
    if isinstance(advance, bool) or not isinstance(advance, (int, float)):
        return _bad_request("advance must be a number of seconds")
    if advance < 0 or not math.isfinite(advance):
        return _bad_request("advance must be finite and >= 0: the clock only moves forward")
    return json_reply(200, {"now": ctx.state.advance_clock(advance)})


def expire_tokens(ctx: Context, req: Request) -> Reply:
    """Expire the current token now; business calls get 401, getToken then issues a new one."""
    return json_reply(200, {"expired": ctx.state.expire_tokens(), "now": ctx.state.now()})


def get_config(ctx: Context, req: Request) -> Reply:
    """Current run-time switches."""
    return json_reply(200, dataclasses.asdict(ctx.state.config))


def set_config(ctx: Context, req: Request) -> Reply:
    """Change any of the switches in state.CONFIG_TYPES; one bad value changes nothing."""
    changes = {}
    for name, value in req.body.items():
        expected = CONFIG_TYPES.get(name)
        if expected is None:
            return _bad_request(f"unknown config key {name!r}; known: {sorted(CONFIG_TYPES)}")
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
    return json_reply(200, payment)


ROUTES: tuple[Route, ...] = (
    Route("GET", PREFIX + "calls", calls, auth=False),
    Route("POST", PREFIX + "reset", reset, auth=False),
    Route("POST", PREFIX + "clock", clock, auth=False),
    Route("POST", PREFIX + "tokens/expire", expire_tokens, auth=False),
    Route("GET", PREFIX + "config", get_config, auth=False),
    Route("POST", PREFIX + "config", set_config, auth=False),
    Route("GET", PREFIX + "faults", list_faults, auth=False),
    Route("POST", PREFIX + "faults", queue_fault, auth=False),
    Route("POST", PREFIX + "payments/{imp_uid}/settle", settle_payment, auth=False),
)
