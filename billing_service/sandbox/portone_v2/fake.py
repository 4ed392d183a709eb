"""The PortOne V2 fake as the shared server drives it: its routes, credentials, answers, and
the `Idempotency-Key` of every call that changes something."""

from __future__ import annotations

import dataclasses
from email.message import Message
from typing import Any

from .. import faults
from ..provider import FakeThreads, Shared
from ..server import SandboxServer
from ..wire import JSON_CONTENT_TYPE, Reply, Request, Route, valid_url
from . import admin, billing_keys, cancels, cards, login, payments, schedules, search
from . import idempotency as idem
from .channels import DEFAULT_STORE_ID
from .state import V2State
from .webhooks import Webhooks, check_secret, new_secret
from .wire import (
    SERVER_ERROR_REPLY,
    UNAUTHORIZED_REPLY,
    Context,
    error,
    invalid,
    pg_provider,
)

DEFAULT_API_SECRET = "portone_sandbox_secret"

MSG_OUTSTANDING = "같은 Idempotency-Key의 요청이 아직 처리 중입니다."  # sandbox wording
MSG_KEY_REUSED = "Idempotency-Key가 다른 요청에 사용되었습니다."  # sandbox wording
MSG_BAD_KEY = 'Idempotency-Key는 16~256자의 RFC 8941 문자열("...")이어야 합니다.'
# Sandbox wording, modelled on the PGs' refusals of a cancel they do not allow.
PG_REFUSAL = ("F999", "[sandbox] PG사 거절: 부분취소가 불가능한 거래입니다.")
IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# What the route faults that strike before processing answer (LOST: nothing, a reset).
_FAULT_REPLIES: dict[str, Reply] = {
    faults.HTTP_500: SERVER_ERROR_REPLY,
    faults.HTTP_401: UNAUTHORIZED_REPLY,
    faults.PG_REFUSAL: pg_provider("PG사에서 취소를 거절했습니다.", *PG_REFUSAL),
}

ROUTES: tuple[Route[Context], ...] = (
    Route("POST", "/login/api-secret", login.login, auth=False, token_call=True),
    Route("POST", "/token/refresh", login.refresh, auth=False, token_call=True),
    Route("POST", "/billing-keys", billing_keys.issue_billing_key),
    Route("GET", "/billing-keys", search.search_billing_keys),
    Route("GET", "/billing-keys/{billingKey}", billing_keys.get_billing_key),
    Route("DELETE", "/billing-keys/{billingKey}", billing_keys.delete_billing_key),
    Route("POST", payments.PAY_ROUTE, payments.pay_with_billing_key),
    Route("POST", "/payments/{paymentId}/cancel", cancels.cancel_payment),
    Route("GET", "/payments/{paymentId}", payments.get_payment),
    Route("POST", "/payments/{paymentId}/resend-webhook", payments.resend_webhook),
    Route("GET", "/payments", search.search_payments),
    Route("POST", "/payments/{paymentId}/schedule", schedules.create_schedule),
    Route("GET", "/payment-schedules", search.search_payment_schedules),
    Route("GET", "/payment-schedules/{paymentScheduleId}", schedules.get_schedule),
    Route("DELETE", "/payment-schedules", schedules.revoke_schedules),
)


def _credentials(headers: Message) -> tuple[str | None, str | None]:
    """(the Authorization value, its scheme): `PortOne <secret>` or `Bearer <access token>`."""
    authorization = (headers.get("Authorization") or "").strip()
    if not authorization:
        return None, None
    scheme = authorization.partition(" ")[0].lower()
    return authorization, scheme if scheme in ("portone", "bearer") else "raw"


def _kept(reply: Reply | None) -> Reply | None:
    """What PortOne keeps for a replay: a JSON answer of its own (not a 500, not a proxy's
    page), without the sandbox's pacing."""
    if reply is None or reply.status == 500 or reply.content_type != JSON_CONTENT_TYPE:
        return None
    return dataclasses.replace(reply, delay=0.0, trickle=0.0)


class PortOneV2(FakeThreads):
    """The fake PortOne V2 REST API (a `provider.Fake`), with its scheduler and webhook sender
    threads."""

    name = "portone-v2-sandbox"
    routes = ROUTES
    admin_routes = admin.ROUTES
    state: V2State
    context: Context

    def __init__(
        self,
        shared: Shared,
        *,
        api_secret: str = DEFAULT_API_SECRET,
        store_id: str = DEFAULT_STORE_ID,
        latency: float = 0.0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        if not api_secret:
            raise ValueError("api_secret must not be empty")
        if webhook_url is not None and not valid_url(webhook_url):
            raise ValueError("webhook_url must be an http(s) URL")
        secret = webhook_secret or new_secret()
        refusal = check_secret(secret)
        if refusal is not None:
            raise ValueError(f"webhook_secret: {refusal}")
        self.state = V2State(
            api_secret,
            store_id,
            shared.clock,
            latency_ms=round(latency * 1000),
            webhook_url=webhook_url,
        )
        self.webhooks = Webhooks(self.state, secret)
        self.context = Context(self.state, shared.stopping, shared.hang_seconds, self.webhooks)
        super().__init__(self.webhooks, "webhooks", shared.stopping)

    # --- answering a call ---

    def latency(self, route: Route[Any] | None) -> float:
        return self.state.config.latency_ms / 1000

    def credentials(self, headers: Message) -> tuple[str | None, str | None]:
        return _credentials(headers)

    def shapes(self, body: dict[str, Any] | None) -> dict[str, str]:
        return cards.card_shapes(body)

    def no_route(self, allowed: list[str]) -> Reply:
        if allowed:
            reply = error(405, "METHOD_NOT_ALLOWED", "Method Not Allowed")
            return dataclasses.replace(reply, headers=(("Allow", ", ".join(allowed)),))
        return error(404, "NOT_FOUND", "Not Found")

    def fault_reply(self, fault: str) -> Reply | None:
        return _FAULT_REPLIES.get(fault)  # LOST: the request never reached PortOne

    def _authorised(self, credential: str | None) -> bool:
        if credential is None or self.state.config.unauthorized:
            return False
        scheme, _, value = credential.partition(" ")
        value = value.strip()
        if scheme.lower() == "portone":
            return self.state.tokens.secret_ok(value)
        return scheme.lower() == "bearer" and self.state.tokens.access_ok(value)

    def answer(
        self, route: Route[Any], credential: str | None, request: Request | None
    ) -> Reply | None:
        if route.auth and not self._authorised(credential):
            return UNAUTHORIZED_REPLY
        if request is None:
            return invalid("the request body must be a JSON object")
        header = request.headers.get(idem.HEADER)
        if header is None or route.method not in IDEMPOTENT_METHODS:  # GET ignores it
            return self._process(route, request)[1]
        key = idem.parse_key(header)
        if key is None:
            return invalid(MSG_BAD_KEY)
        return self._once(route, request, key)

    def _process(self, route: Route[Any], request: Request) -> tuple[Reply | None, Reply | None]:
        """Run the route: (what PortOne keeps for a replay, what this call gets).

        A hang is held here, after processing and before the answer is kept, so a retry with
        the same Idempotency-Key meanwhile finds the request still outstanding.
        """
        reply = route.handler(self.context, request)
        kept = _kept(reply)
        if reply is None:
            return kept, None
        if reply.delay and self.context.stopping.wait(reply.delay):
            return kept, None  # shut down while held: done, but the answer is lost
        if payments.lost_after_processing(route.template, request):
            return kept, None
        return kept, dataclasses.replace(reply, delay=0.0)

    def _once(self, route: Route[Any], request: Request, key: str) -> Reply | None:
        """The call under its Idempotency-Key: processed once, replayed after."""
        verdict, stored = self.state.idempotency.begin(key, idem.fingerprint(request))
        if verdict == idem.RUN:
            kept, sent = self._process(route, request)
            # `fault-ready-`: the PG never answers, so the request stays outstanding.
            if not payments.never_answered(route.template, request):
                self.state.idempotency.finish(key, kept)
            return sent
        if verdict == idem.REPLAY or (
            verdict == idem.MISMATCH
            and stored is not None
            and self.state.config.idempotency_mismatch == "replay"
        ):
            return stored
        if verdict == idem.MISMATCH and self.state.config.idempotency_mismatch == "reject":
            return invalid(MSG_KEY_REUSED)
        return error(409, "IDEMPOTENCY_OUTSTANDING_REQUEST", MSG_OUTSTANDING)

    # --- background threads (`FakeThreads`), the clock ---

    def _execute_due(self) -> list[str]:
        return schedules.execute_due(self.context)  # schedule ids

    def clock_moved(self) -> list[str]:
        """Run the schedules that became due (their ids); retries now due go out too."""
        self.webhooks.wake()
        return super().clock_moved()


def start_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_secret: str = DEFAULT_API_SECRET,
    store_id: str = DEFAULT_STORE_ID,
    latency: float = 0.0,
    hang_seconds: float = 60.0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> SandboxServer:
    """Bind and start a PortOne V2 sandbox in a daemon thread; port 0 picks a free port (see
    `.url`). `api_secret` is the only accepted V2 API secret, `store_id` the merchant's store.

    `webhook_url` is the console's webhook URL (None: only `noticeUrls` get webhooks);
    `webhook_secret` signs them (`whsec_<base64>`; comma-separated: each signs, as during a
    rotation; None: one generated, read it at `.fake.webhooks.secret` or
    `GET /__sandbox__/webhooks`).
    """

    def make_fake(shared: Shared) -> PortOneV2:
        return PortOneV2(
            shared,
            api_secret=api_secret,
            store_id=store_id,
            latency=latency,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )

    return SandboxServer(make_fake, host, port, hang_seconds=hang_seconds).start()
