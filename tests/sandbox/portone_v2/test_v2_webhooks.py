"""The V2 sandbox's webhooks, received by a tiny local HTTP server and verified with PortOne's
SDK (`portone_server_sdk.webhook.verify`): each event's type and data, noticeUrls, skipWebhook,
retries with the same webhook-id on the sandbox clock, reordering and duplicates, resends and
forgeries."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from portone_server_sdk import PortOneClient, webhook
from portone_server_sdk.webhook import (
    WebhookBillingKeyDeleted,
    WebhookBillingKeyIssued,
    WebhookTransactionCancelledCancelled,
    WebhookTransactionCancelledPartialCancelled,
    WebhookTransactionFailed,
    WebhookTransactionPaid,
    WebhookVerificationError,
)

from billing_service.sandbox import SandboxServer
from billing_service.sandbox.__main__ import _options, _parse_args
from billing_service.sandbox.portone_v2 import DEFAULT_CHANNEL_KEY, DEFAULT_STORE_ID, start_sandbox
from billing_service.sandbox.portone_v2.webhooks import new_secret

from .helpers import DECLINING_CARD, admin, config, issue, pay, raw
from .test_v2_schedules import _at, schedule


@dataclass
class Receiver:
    """A local webhook endpoint: what it received, and the statuses it answers (200 after)."""

    url: str = ""
    received: list[tuple[dict[str, str], str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], str]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                self.received
            )
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            headers = {name.lower(): value for name, value in self.headers.items()}
            with found.arrived:
                status = found.statuses.pop(0) if found.statuses else 200
                found.received.append((headers, body))
                found.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/portone"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def hooked(v2: SandboxServer, receiver: Receiver) -> SandboxServer:
    """The sandbox with its console webhook URL on the receiver."""
    config(v2, webhook_url=receiver.url)
    return v2


def _secret(v2: SandboxServer) -> str:
    return str(admin(v2, "webhooks")["secret"])


def _verified(v2: SandboxServer, received: tuple[dict[str, str], str]) -> Any:
    headers, body = received
    return webhook.verify(_secret(v2), body, headers)


def test_a_charge_and_its_cancels_send_verifiable_transaction_webhooks(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    key = issue(client)
    pay(client, "order-1", key)
    client.payment.cancel_payment(payment_id="order-1", reason="part", amount=1_000)
    client.payment.cancel_payment(payment_id="order-1", reason="rest")
    received = receiver.wait(4)
    issued, paid, partial, cancelled = (_verified(hooked, one) for one in received)
    assert isinstance(issued, WebhookBillingKeyIssued) and issued.data.billing_key == key
    assert isinstance(paid, WebhookTransactionPaid)
    assert (paid.data.payment_id, paid.data.store_id) == ("order-1", DEFAULT_STORE_ID)
    payment = client.payment.get_payment(payment_id="order-1")
    assert paid.data.transaction_id == payment.transaction_id  # type: ignore[union-attr]
    assert isinstance(partial, WebhookTransactionCancelledPartialCancelled)
    assert isinstance(cancelled, WebhookTransactionCancelledCancelled)
    assert partial.data.cancellation_id != cancelled.data.cancellation_id


def test_a_decline_sends_failed_and_a_deleted_key_sends_deleted(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    key = issue(client, DECLINING_CARD)
    response = raw(
        hooked,
        "POST",
        "/payments/order-1/billing-key",
        {"billingKey": key, "orderName": "x", "amount": {"total": 100}, "currency": "KRW"},
    )
    assert response.status == 502
    client.payment.billing_key.delete_billing_key(billing_key=key)
    kinds = [_verified(hooked, one) for one in receiver.wait(3)[1:]]
    assert isinstance(kinds[0], WebhookTransactionFailed)
    assert isinstance(kinds[1], WebhookBillingKeyDeleted) and kinds[1].data.billing_key == key


def test_skip_webhook_drops_success_webhooks_and_notice_urls_replace_the_console_url(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    body = {
        "billingKey": "",
        "orderName": "x",
        "amount": {"total": 100},
        "currency": "KRW",
        "skipWebhook": True,
    }
    body["billingKey"] = issue(client)
    assert raw(hooked, "POST", "/payments/order-1/billing-key", body).status == 200
    config(hooked, webhook_url=None)
    body.update(skipWebhook=False, noticeUrls=[receiver.url + "?notice=1"])
    assert raw(hooked, "POST", "/payments/order-2/billing-key", body).status == 200
    received = receiver.wait(2)
    assert [_verified(hooked, one).data.payment_id for one in received[1:]] == ["order-2"]
    assert len(admin(hooked, "webhooks/wait", {"count": 2})["webhooks"]) == 2  # Issued, Paid


def test_a_failed_delivery_is_retried_on_the_sandbox_clock_with_the_same_id(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    receiver.statuses = [500, 503]
    issue(client)
    first = receiver.wait(1)[0][0]["webhook-id"]
    admin(hooked, "webhooks/wait", {"count": 1})  # the failure recorded: its retry is queued
    admin(hooked, "clock", {"advance": 61})  # the first retry: after 1 minute
    admin(hooked, "webhooks/wait", {"count": 2})
    admin(hooked, "clock", {"advance": 4 * 60 + 1})  # the second: 4 minutes later
    received = receiver.wait(3)
    assert {headers["webhook-id"] for headers, _ in received} == {first}
    assert len({body for _, body in received}) == 1  # the body's timestamp never changes
    _verified(hooked, received[-1])
    attempts = admin(hooked, "webhooks/wait", {"count": 3})["webhooks"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 503), (3, 200)]
    recorded = attempts[-1]  # what a test replays to an app without a socket
    webhook.verify(_secret(hooked), recorded["payload"], recorded["headers"])
    admin(hooked, "clock", {"advance": 3600})
    assert len(admin(hooked, "webhooks")["webhooks"]) == 3  # a success ends the retries


def test_executed_schedules_send_their_webhooks_reordered_and_twice_when_switched(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    key = issue(client)
    receiver.wait(1)
    config(hooked, webhook_disorder=True)
    schedule(client, "order-1", key, _at(hooked, 60))
    schedule(client, "order-2", key, _at(hooked, 60))
    admin(hooked, "clock", {"advance": 61})
    received = receiver.wait(5)[1:]
    ids = [_verified(hooked, one).data.payment_id for one in received]
    assert ids == ["order-2", "order-2", "order-1", "order-1"]
    assert received[0][0]["webhook-id"] == received[1][0]["webhook-id"]


def test_resend_keeps_the_id_and_forgeries_fail_verification(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    issue(client)
    first = receiver.wait(1)[0]
    admin(hooked, "webhooks/resend", {"webhook_id": first[0]["webhook-id"]})
    resent = receiver.wait(2)[1]
    assert resent[0]["webhook-id"] == first[0]["webhook-id"] and resent[1] == first[1]
    _verified(hooked, resent)
    pairs = (("wrong", "NO_MATCHING_SIGNATURE"), ("stale", "TIMESTAMP_TOO_OLD"))
    for count, (signature, reason) in enumerate(pairs, start=3):
        admin(
            hooked,
            "webhooks/send",
            {"type": "Transaction.Paid", "data": {}, "signature": signature},
        )
        forged = receiver.wait(count)[-1]
        with pytest.raises(WebhookVerificationError) as caught:
            _verified(hooked, forged)
        assert caught.value.reason == reason
    admin(hooked, "webhooks/send", {"body": "not json", "signature": "none"})
    headers, body = receiver.wait(5)[-1]
    assert body == "not json" and "webhook-signature" not in headers


def test_every_secret_of_a_rotation_verifies(receiver: Receiver) -> None:
    old, new = new_secret(), new_secret()
    with start_sandbox(webhook_url=receiver.url, webhook_secret=f"{old},{new}") as server:
        raw(server, "POST", "/__sandbox__/webhooks/send", {"type": "X.Y", "data": {}})
        headers, body = receiver.wait(1)[0]
    for secret in (old, new):
        verified = webhook.verify(secret, body, headers)  # an unknown type: the raw dict
        assert isinstance(verified, dict) and verified["type"] == "X.Y"


def test_a_bad_secret_or_url_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="webhook_secret"):
        start_sandbox(webhook_secret="not-a-secret!")
    with pytest.raises(ValueError, match="webhook_url"):
        start_sandbox(webhook_url="ftp://x")


def test_five_retries_then_it_gives_up(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    receiver.statuses = [500] * 6
    issue(client)
    for count, minutes in enumerate((1, 4, 16, 64, 256), start=1):
        admin(hooked, "webhooks/wait", {"count": count})
        admin(hooked, "clock", {"advance": minutes * 60})
    admin(hooked, "webhooks/wait", {"count": 6})
    admin(hooked, "clock", {"advance": "P1D"})
    waited = raw(hooked, "POST", "/__sandbox__/webhooks/wait", {"count": 7, "timeout": 0.3})
    assert waited.status == 408
    assert [a["attempt"] for a in waited.json()["webhooks"]] == [1, 2, 3, 4, 5, 6]


def test_the_command_line_passes_the_webhook_url_and_secret() -> None:
    secret = new_secret()
    args = _parse_args(["--api", "v2", "--webhook-url", "http://h/x", "--webhook-secret", secret])
    options = _options(args)
    assert (options["webhook_url"], options["webhook_secret"]) == ("http://h/x", secret)


def test_a_keys_webhooks_go_to_its_issuances_notice_urls(
    v2: SandboxServer, receiver: Receiver
) -> None:
    body = {
        "method": {
            "card": {
                "credential": {
                    "number": "4242424242424242",
                    "expiryYear": "99",
                    "expiryMonth": "12",
                    "birthOrBusinessRegistrationNumber": "900101",
                    "passwordTwoDigits": "12",
                }
            }
        },
        "channelKey": DEFAULT_CHANNEL_KEY,
        "noticeUrls": [receiver.url],
    }
    response = raw(v2, "POST", "/billing-keys", body)
    key = response.json()["billingKeyInfo"]["billingKey"]
    assert raw(v2, "DELETE", f"/billing-keys/{key}").status == 200
    kinds = [_verified(v2, one) for one in receiver.wait(2)]
    assert [type(kind) for kind in kinds] == [WebhookBillingKeyIssued, WebhookBillingKeyDeleted]


def test_a_payment_shows_its_webhooks_and_resends_one(
    hooked: SandboxServer, receiver: Receiver, client: PortOneClient
) -> None:
    receiver.statuses = [200, 500]
    pay(client, "order-1", issue(client))
    receiver.wait(2)
    admin(hooked, "webhooks/wait", {"count": 2})
    payment = client.payment.get_payment(payment_id="order-1")
    assert payment.webhooks is not None  # type: ignore[union-attr]
    (paid,) = payment.webhooks  # type: ignore[union-attr]
    assert (paid.status, paid.payment_status, paid.current_execution_count) == (
        "FAILED_NOT_OK_RESPONSE",
        "PAID",
        1,
    )
    resent = client.payment.resend_webhook(payment_id="order-1").webhook
    assert (resent.id, resent.trigger) == (paid.id, "MANUAL")
    assert receiver.wait(3)[-1][0]["webhook-id"] == paid.id
    response = raw(hooked, "POST", "/payments/order-1/resend-webhook", {"webhookId": "msg_x"})
    assert (response.status, response.json()["type"]) == (404, "WEBHOOK_NOT_FOUND")
