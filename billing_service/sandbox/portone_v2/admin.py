"""The PortOne V2 fake's own control endpoints under `/__sandbox__/`: config, late PG answers
to a charge or a cancel, the idempotency keys held (no auth, plain JSON, not logged)."""

from __future__ import annotations

import dataclasses

from ..admin import PREFIX, bad_request, config_changes
from ..wire import Reply, Request, Route, json_reply
from . import records
from .config import CONFIG_CHOICES, CONFIG_TYPES
from .wire import Context


def get_config(ctx: Context, req: Request) -> Reply:
    """Current run-time switches."""
    return json_reply(200, dataclasses.asdict(ctx.state.config))


def set_config(ctx: Context, req: Request) -> Reply:
    """Change any of the switches in config.CONFIG_TYPES; one bad value changes nothing."""
    changes = config_changes(req.body, CONFIG_TYPES, CONFIG_CHOICES)
    if isinstance(changes, str):
        return bad_request(changes)
    return json_reply(200, dataclasses.asdict(ctx.state.update_config(changes)))


def _settled(refusal: str | None, payment: object) -> Reply:
    if payment is None:
        return json_reply(404, {"error": refusal})
    if refusal is not None:
        return bad_request(refusal)
    return json_reply(200, payment)


def settle_payment(ctx: Context, req: Request) -> Reply:
    """`{"status": "PAID" | "FAILED"}`: the PG's late answer to a READY / PAY_PENDING attempt
    (`pending-`, `fault-ready-`); answers the payment."""
    status = req.body.get("status")
    if not isinstance(status, str) or status not in records.SETTLE_STATUSES:
        return bad_request(f"status must be one of {list(records.SETTLE_STATUSES)}")
    now = ctx.state.now()
    refusal, payment = ctx.state.update_latest(
        req.params["paymentId"], lambda live: records.settle(live, status, now)
    )
    return _settled(refusal, payment)


def settle_cancellation(ctx: Context, req: Request) -> Reply:
    """`{"status": "SUCCEEDED" | "FAILED"}`: the PG's late answer to a REQUESTED cancellation
    (switch `cancel_outcome` `REQUESTED`); answers the payment."""
    status = req.body.get("status")
    if not isinstance(status, str) or status not in records.CANCEL_SETTLE_STATUSES:
        return bad_request(f"status must be one of {list(records.CANCEL_SETTLE_STATUSES)}")
    now, cancellation_id = ctx.state.now(), req.params["cancellationId"]
    refusal, payment = ctx.state.update_latest(
        req.params["paymentId"],
        lambda live: records.settle_cancellation(live, cancellation_id, status, now),
    )
    return _settled(refusal, payment)


def idempotency_keys(ctx: Context, req: Request) -> Reply:
    """`{"keys": [{"key", "status"}]}`: the Idempotency-Keys held (status None: still running)."""
    return json_reply(200, {"keys": ctx.state.idempotency.snapshot()})


ROUTES: tuple[Route[Context], ...] = (
    Route("GET", PREFIX + "config", get_config, auth=False),
    Route("POST", PREFIX + "config", set_config, auth=False),
    Route("POST", PREFIX + "payments/{paymentId}/settle", settle_payment, auth=False),
    Route(
        "POST",
        PREFIX + "payments/{paymentId}/cancellations/{cancellationId}/settle",
        settle_cancellation,
        auth=False,
    ),
    Route("GET", PREFIX + "idempotency", idempotency_keys, auth=False),
)
