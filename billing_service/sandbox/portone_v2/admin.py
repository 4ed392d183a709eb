"""The PortOne V2 fake's own control endpoints under `/__sandbox__/`: config, late PG answers
to a charge or a cancel, the idempotency keys held, the webhooks sent (list, wait, resend,
forge) (no auth, plain JSON, not logged)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..admin import PREFIX, bad_request, config_changes
from ..wire import Reply, Request, Route, json_reply, valid_url
from . import records, schedules
from .cancels import notify_cancellation
from .config import CONFIG_CHOICES, CONFIG_NULLABLE, CONFIG_TYPES
from .payments import notify
from .webhooks import SIGNATURES
from .wire import Context, rfc3339

MAX_WAIT = 60.0  # seconds a `webhooks/wait` may block
MAX_RESEND_TIMES = 10
_FORGE_FIELDS = ("type", "data", "timestamp", "body", "url", "signature", "webhook_id", "retry")


def _check(name: str, value: object) -> str | None:
    if name == "webhook_url" and not valid_url(value):
        return "webhook_url must be an http(s) URL or null"
    return None


def get_config(ctx: Context, req: Request) -> Reply:
    """Current run-time switches."""
    return json_reply(200, dataclasses.asdict(ctx.state.config))


def set_config(ctx: Context, req: Request) -> Reply:
    """Change any of the switches in config.CONFIG_TYPES; one bad value changes nothing."""
    changes = config_changes(req.body, CONFIG_TYPES, CONFIG_CHOICES, CONFIG_NULLABLE, _check)
    if isinstance(changes, str):
        return bad_request(changes)
    return json_reply(200, dataclasses.asdict(ctx.state.update_config(changes)))


def _settled(refusal: str | None, payment: dict[str, Any] | None) -> Reply | None:
    """The refusal's answer, or None when the settle was done."""
    if payment is None:
        return json_reply(404, {"error": refusal})
    if refusal is not None:
        return bad_request(refusal)
    return None


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
    answer = _settled(refusal, payment)
    if answer is not None or payment is None:
        return answer or bad_request("no payment")
    schedule_id = payment.get("scheduleId")
    if schedule_id is not None:  # its schedule was waiting on the PG too
        ctx.state.update_schedule(schedule_id, lambda info: schedules.complete(info, payment, now))
    notify(ctx, payment)
    return json_reply(200, payment)


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
    answer = _settled(refusal, payment)
    if answer is not None or payment is None:
        return answer or bad_request("no payment")
    for cancellation in payment.get("cancellations", ()):
        if cancellation["id"] == cancellation_id:
            notify_cancellation(ctx, payment, cancellation, skip_success=False)
    return json_reply(200, payment)


def idempotency_keys(ctx: Context, req: Request) -> Reply:
    """`{"keys": [{"key", "status"}]}`: the Idempotency-Keys held (status None: still running)."""
    return json_reply(200, {"keys": ctx.state.idempotency.snapshot()})


# --- webhooks ---


def list_webhooks(ctx: Context, req: Request) -> Reply:
    """`{"secret", "webhooks": [attempt]}`: every attempt since the reset, oldest first."""
    return json_reply(200, {"secret": ctx.webhooks.secret, "webhooks": ctx.webhooks.snapshot()})


def wait_webhooks(ctx: Context, req: Request) -> Reply:
    """`{"count": n, "timeout": s}`: block until n attempts since the reset; 200 with the
    record, or 408 with it after `timeout` seconds (default 5)."""
    count, timeout = req.body.get("count", 1), req.body.get("timeout", 5)
    if type(count) is not int or count < 0:
        return bad_request("count must be an int >= 0")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        return bad_request(f"timeout must be a number of seconds from 0 to {MAX_WAIT:g}")
    if not 0 <= timeout <= MAX_WAIT:
        return bad_request(f"timeout must be a number of seconds from 0 to {MAX_WAIT:g}")
    reached, record = ctx.webhooks.wait(count, float(timeout))
    if not reached:
        error = f"only {len(record)} of {count} webhook attempts within {timeout} s"
        return json_reply(408, {"error": error, "webhooks": record})
    return json_reply(200, {"webhooks": record})


def resend_webhook(ctx: Context, req: Request) -> Reply:
    """`{"webhook_id", "times"?, "signature"?}`: send a webhook again (same id and body, a
    fresh webhook-timestamp), `times` times; no retries follow a failure."""
    webhook_id, times = req.body.get("webhook_id"), req.body.get("times", 1)
    signature = req.body.get("signature", "valid")
    if not isinstance(webhook_id, str):
        return bad_request("webhook_id must be the id of a webhook sent")
    if type(times) is not int or not 1 <= times <= MAX_RESEND_TIMES:
        return bad_request(f"times must be an int from 1 to {MAX_RESEND_TIMES}")
    if signature not in SIGNATURES:
        return bad_request(f"signature must be one of {list(SIGNATURES)}")
    if not ctx.webhooks.resend(webhook_id, times, str(signature)):
        return json_reply(404, {"error": f"no webhook with id {webhook_id}"})
    return json_reply(200, {"queued": times})


def _forged_payload(ctx: Context, body: dict[str, Any]) -> tuple[str, str] | str:
    """(the raw body, its type) of a forged webhook, or why not."""
    raw = body.get("body")
    if raw is not None:
        if isinstance(raw, str):
            return raw, "forged"
        return json.dumps(raw, ensure_ascii=False, separators=(",", ":")), "forged"
    kind, data = body.get("type"), body.get("data")
    if not isinstance(kind, str) or not isinstance(data, dict):
        return "send `body` (any JSON or text), or `type` (a string) and `data` (an object)"
    stamp = body.get("timestamp", rfc3339(ctx.state.now()))
    payload = {"type": kind, "timestamp": stamp, "data": data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")), kind


def send_webhook(ctx: Context, req: Request) -> Reply:
    """Forge a webhook: `{type, data, timestamp?}` or a raw `body`, to `url` (else the console
    URL), `signature` `valid` (default) | `wrong` | `none` | `stale`, `webhook_id`?, `retry`
    (default false: PortOne's retries on failure). Answers `{"webhook_id"}`."""
    unknown = sorted(set(req.body) - set(_FORGE_FIELDS))
    if unknown:
        return bad_request(f"unknown field(s) {unknown}; known: {list(_FORGE_FIELDS)}")
    forged = _forged_payload(ctx, req.body)
    if isinstance(forged, str):
        return bad_request(forged)
    url = req.body.get("url", ctx.state.config.webhook_url)
    if not valid_url(url):
        return bad_request("url must be an http(s) URL (no webhook_url is configured)")
    signature, webhook_id = req.body.get("signature", "valid"), req.body.get("webhook_id")
    if signature not in SIGNATURES:
        return bad_request(f"signature must be one of {list(SIGNATURES)}")
    if webhook_id is not None and not isinstance(webhook_id, str):
        return bad_request("webhook_id must be a string")
    retry = req.body.get("retry", False)
    if not isinstance(retry, bool):
        return bad_request("retry must be a bool")
    sent = ctx.webhooks.forge(
        str(url), forged[0], forged[1], webhook_id, retry=retry, signature=str(signature)
    )
    return json_reply(200, {"webhook_id": sent})


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
    Route("GET", PREFIX + "webhooks", list_webhooks, auth=False),
    Route("POST", PREFIX + "webhooks/wait", wait_webhooks, auth=False),
    Route("POST", PREFIX + "webhooks/resend", resend_webhook, auth=False),
    Route("POST", PREFIX + "webhooks/send", send_webhook, auth=False),
)
