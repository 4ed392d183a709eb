"""The I'mport V1 fake as the shared server drives it: its routes, credentials, answers, threads."""

from __future__ import annotations

from email.message import Message
from typing import Any

from .. import faults
from ..provider import FakeThreads, Shared
from ..server import SandboxServer
from ..wire import Reply, Request, Route, valid_url
from . import admin, billing_keys, cards, payments, schedules
from .notices import Notices
from .state import SandboxState
from .tokens import DEFAULT_TOKEN_TTL
from .wire import SERVER_ERROR_REPLY, UNAUTHORIZED_REPLY, Context, envelope

DEFAULT_API_KEY = "imp_sandbox_key"
DEFAULT_API_SECRET = "imp_sandbox_secret"

MSG_BAD_BODY = "요청 본문을 해석할 수 없습니다."  # sandbox wording; real text unknown
# Sandbox wording, modelled on the PGs' refusals of a cancel they do not allow.
MSG_PG_REFUSAL = "[sandbox] PG사 거절: 부분취소가 불가능한 거래입니다."

# What the route faults that strike before processing answer (LOST: nothing, a reset).
_FAULT_REPLIES: dict[str, Reply] = {
    faults.HTTP_500: SERVER_ERROR_REPLY,
    # Credentials rotated: no `WWW-Authenticate`, unlike a business call's 401.
    faults.HTTP_401: envelope(401, -1, "Unauthorized"),
    faults.PG_REFUSAL: envelope(200, -1, MSG_PG_REFUSAL),
}

ROUTES: tuple[Route[Context], ...] = (
    Route("POST", "/users/getToken", billing_keys.get_token, auth=False, token_call=True),
    Route("POST", "/subscribe/customers/{customer_uid}", billing_keys.issue_billing_key),
    Route("GET", "/subscribe/customers/{customer_uid}", billing_keys.get_billing_key),
    Route("DELETE", "/subscribe/customers/{customer_uid}", billing_keys.delete_billing_key),
    Route("POST", "/subscribe/payments/again", payments.charge_again),
    Route("POST", "/subscribe/payments/schedule", schedules.schedule_payments),
    Route("POST", "/subscribe/payments/unschedule", schedules.unschedule),
    # `{merchant_uid}` matches one segment: `customers/{customer_uid}` is never taken by it.
    Route(
        "GET",
        "/subscribe/payments/schedule/customers/{customer_uid}",
        schedules.list_customer_schedules,
    ),
    Route("GET", "/subscribe/payments/schedule/{merchant_uid}", schedules.get_schedule),
    # The find routes come first for readability; `{imp_uid}` matches one segment only, so
    # `/payments/find/x` could never be taken by it anyway.
    Route("GET", "/payments/find/{merchant_uid}", payments.find_payment),
    Route("GET", "/payments/find/{merchant_uid}/{payment_status}", payments.find_payment),
    Route("POST", "/payments/cancel", payments.cancel_payment),
    Route("GET", "/payments/{imp_uid}", payments.get_payment),
)


def _extract_token(headers: Message) -> tuple[str | None, str | None]:
    """Return (token, scheme). I'mport accepts `Bearer x`, a raw `x` (the original 2015 design,
    still sent by the official Python/Java/Go clients) and the legacy `X-ImpTokenHeader`;
    Authorization wins when both are present."""
    authorization = (headers.get("Authorization") or "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            return rest.strip(), "bearer"
        return authorization, "raw"
    legacy = (headers.get("X-ImpTokenHeader") or "").strip()
    if legacy:
        return legacy, "x-imptokenheader"
    return None, None


class IamportV1(FakeThreads):
    """The fake I'mport V1 REST API (a `provider.Fake`), with its notice sender and scheduler."""

    name = "iamport-sandbox"
    routes = ROUTES
    admin_routes = admin.ROUTES
    state: SandboxState
    context: Context

    def __init__(
        self,
        shared: Shared,
        *,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        latency: float = 0.0,
        webhook_url: str | None = None,
    ) -> None:
        if webhook_url is not None and not valid_url(webhook_url):
            raise ValueError(f"webhook_url must be an http(s) URL, not {webhook_url!r}")
        self.state = SandboxState(
            api_key,
            api_secret,
            shared.clock,
            token_ttl=token_ttl,
            latency_ms=round(latency * 1000),
            webhook_url=webhook_url,
        )
        self.notices = Notices(self.state)
        self.context = Context(self.state, shared.stopping, shared.hang_seconds, self.notices)
        super().__init__(self.notices, "notices", shared.stopping)

    # --- answering a call ---

    def latency(self, route: Route[Any] | None) -> float:
        config = self.state.config
        delay_ms = config.latency_ms
        if route is not None and route.token_call:
            delay_ms += config.token_latency_ms
        return delay_ms / 1000

    def credentials(self, headers: Message) -> tuple[str | None, str | None]:
        return _extract_token(headers)

    def shapes(self, body: dict[str, Any] | None) -> dict[str, str]:
        return cards.card_shapes(body)

    def no_route(self, allowed: list[str]) -> Reply:
        if allowed:
            headers = (("Allow", ", ".join(allowed)),)
            return envelope(405, -1, "Method Not Allowed", headers=headers)
        return envelope(404, -1, "Not Found")

    def fault_reply(self, fault: str) -> Reply | None:
        return _FAULT_REPLIES.get(fault)  # LOST: the request never reached I'mport

    def answer(
        self, route: Route[Any], credential: str | None, request: Request | None
    ) -> Reply | None:
        state = self.state
        if route.auth and (
            state.config.unauthorized
            or credential is None
            or not state.tokens.token_valid(credential)
        ):
            return UNAUTHORIZED_REPLY
        if request is None:
            return envelope(400, -1, MSG_BAD_BODY)
        return route.handler(self.context, request)

    # --- background threads (`FakeThreads`), the clock ---

    def _execute_due(self) -> list[str]:
        return schedules.execute_due(self.context)  # merchant_uids


def start_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str = DEFAULT_API_KEY,
    api_secret: str = DEFAULT_API_SECRET,
    token_ttl: int = DEFAULT_TOKEN_TTL,
    latency: float = 0.0,
    hang_seconds: float = 60.0,
    webhook_url: str | None = None,
) -> SandboxServer:
    """Bind and start an I'mport V1 sandbox in a daemon thread; port 0 picks a free port (see
    `.url`).

    `webhook_url` is where notices go for payments without a `notice_url` (None: nowhere).
    """

    def make_fake(shared: Shared) -> IamportV1:
        return IamportV1(
            shared,
            api_key=api_key,
            api_secret=api_secret,
            token_ttl=token_ttl,
            latency=latency,
            webhook_url=webhook_url,
        )

    return SandboxServer(make_fake, host, port, hang_seconds=hang_seconds).start()
