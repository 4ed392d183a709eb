"""The provider-neutral control endpoints under `/__sandbox__/`: calls, reset, clock, faults.

No auth, plain JSON, not logged. A provider's own ones (its config, notices...) are its
`Fake.admin_routes`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import clock as clock_moves
from . import faults
from .provider import Sandbox
from .wire import Reply, Request, Route, json_reply

PREFIX = "/__sandbox__/"
_FAULT_FIELDS = ("route", "fault", "times")
_CLOCK_FIELDS = ("advance", "to")


def bad_request(message: str) -> Reply:
    """An admin call's 400: `{"error": message}`."""
    return json_reply(400, {"error": message})


def config_changes(
    body: Mapping[str, Any],
    types: Mapping[str, type],
    choices: Mapping[str, tuple[object, ...]],
    nullable: frozenset[str] = frozenset(),
    check: Callable[[str, Any], str | None] = lambda name, value: None,
) -> dict[str, Any] | str:
    """A fake's `POST /__sandbox__/config` body checked against its switches: the changes, or
    why not (one bad value changes nothing).

    `check` is the fake's own rule for a key (a URL, a minimum), run before the type check.
    """
    changes: dict[str, Any] = {}
    for name, value in body.items():
        expected = types.get(name)
        if expected is None:
            return f"unknown config key {name!r}; known: {sorted(types)}"
        if value is None and name in nullable:
            changes[name] = None
            continue
        refusal = check(name, value)
        if refusal is not None:
            return refusal
        # bool is a subclass of int: reject `true` for a millisecond field explicitly.
        if type(value) is not expected:
            return f"{name} must be {expected.__name__}"
        allowed = choices.get(name)
        if allowed is not None:
            if value not in allowed:
                return f"{name} must be one of {list(allowed)}"
        elif isinstance(value, int) and value < 0:
            return f"{name} must be >= 0"
        changes[name] = value
    return changes


def calls(sandbox: Sandbox, req: Request) -> Reply:
    """Per-route counts and the recent call list (no bodies, card data or tokens)."""
    return json_reply(200, sandbox.shared.calls.snapshot())


def reset(sandbox: Sandbox, req: Request) -> Reply:
    """Back to a freshly started sandbox: real clock, no faults, no calls, and the fake's own
    reset (start-up config, nothing stored)."""
    shared = sandbox.shared
    with sandbox.fake.paused():  # not in the middle of an execution
        shared.clock.reset()
        shared.faults.clear()
        shared.calls.clear()
        sandbox.fake.reset()
    return json_reply(200, {"reset": True, "now": shared.clock.now()})


def clock(sandbox: Sandbox, req: Request) -> Reply:
    """Move the sandbox clock forward, then run what became due before answering.

    `{"advance": seconds}`, `{"advance": "P1M"}` (ISO 8601 duration, calendar units in KST) or
    `{"to": UNIX seconds | "2026-02-01T00:00:00+09:00"}`; answers `{"now", "executed"}`.
    """
    unknown = sorted(set(req.body) - set(_CLOCK_FIELDS))
    if unknown:
        return bad_request(f"unknown field(s) {unknown}; known: {list(_CLOCK_FIELDS)}")
    if len(req.body) != 1:
        return bad_request("send exactly one of advance, to")
    move: clock_moves.Move | str
    if "advance" in req.body:
        move = clock_moves.advance(req.body["advance"])
    else:
        target = clock_moves.to(req.body["to"])
        move = target if isinstance(target, str) else clock_moves.move_to(target)
    if isinstance(move, str):
        return bad_request(move)
    try:
        now = sandbox.shared.clock.move(move)
    except (ValueError, OverflowError, OSError):
        return bad_request("the clock only moves forward (and stays within year 9999)")
    executed = sandbox.fake.clock_moved()
    return json_reply(200, {"now": now, "executed": executed})


def list_faults(sandbox: Sandbox, req: Request) -> Reply:
    """The route faults still queued, oldest first."""
    return json_reply(200, {"faults": sandbox.shared.faults.snapshot()})


def queue_fault(sandbox: Sandbox, req: Request) -> Reply:
    """`{"route", "fault", "times"}`: fault the next `times` calls of a route; a bad field
    queues nothing."""
    unknown = sorted(set(req.body) - set(_FAULT_FIELDS))
    if unknown:
        return bad_request(f"unknown field(s) {unknown}; known: {list(_FAULT_FIELDS)}")
    route, fault = req.body.get("route"), req.body.get("fault")
    times = req.body.get("times", 1)
    # Route faults name a route as the call log counts it: "POST /payments/cancel".
    fault_routes = [known.key for known in sandbox.fake.routes]
    # isinstance first: a list or an object would not even compare with the names.
    if not isinstance(route, str) or route not in fault_routes:
        return bad_request(f"route must be one of {fault_routes}")
    if not isinstance(fault, str) or fault not in faults.NAMES:
        return bad_request(f"fault must be one of {list(faults.NAMES)}")
    if type(times) is not int or times < 1:  # bool is an int subclass: refuse `true`
        return bad_request("times must be an int >= 1")
    return json_reply(200, {"faults": sandbox.shared.faults.queue(route, fault, times)})


ROUTES: tuple[Route[Sandbox], ...] = (
    Route("GET", PREFIX + "calls", calls, auth=False),
    Route("POST", PREFIX + "reset", reset, auth=False),
    Route("POST", PREFIX + "clock", clock, auth=False),
    Route("GET", PREFIX + "faults", list_faults, auth=False),
    Route("POST", PREFIX + "faults", queue_fault, auth=False),
)
