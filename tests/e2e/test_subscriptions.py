"""The subscription loop through gunicorn and the sandbox, under each provider: schedule charges,
move the sandbox's clock, and receive each verified outcome once as a signed event at a local
subscriber that checks every signature with the standardwebhooks library. The provider's
webhooks are I'mport's notices (to /webhooks/iamport) or PortOne V2's signed webhooks (to
/webhooks/portone, verified with the secret the V2 sandbox signs with)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from standardwebhooks import Webhook

from ..support import (
    CALLER_KEY,
    NO_LIMITS,
    V1,
    V2,
    VALID_BODY,
    LiveService,
    Sandbox,
    card_numbers_in,
    known_cards_in,
    poll,
    v1_only,
)

pytestmark = pytest.mark.both_providers

AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
SECRET = "whsec_" + base64.b64encode(b"subscription-loop-test-secret-32b").decode()
DECLINING_CARD = "4000-0000-0000-0341"
UID = "sub_0001"


class Subscriber:
    """An internal service receiving events; verifies each, keeps what it got."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/events"
        self.received: list[dict] = []
        self.rejected = 0
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    event = Webhook(SECRET).verify(body, dict(self.headers))
                except Exception:  # noqa: BLE001 - any failure to verify is a rejection
                    subscriber.rejected += 1
                    self.send_response(400)
                else:
                    with subscriber._changed:
                        subscriber.received.append({"id": self.headers["webhook-id"], **event})
                        subscriber._changed.notify_all()
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 20) -> list[dict]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.received) >= count, timeout)
            assert len(self.received) >= count, self.received
            return list(self.received)


def loop_env(sandbox: Sandbox, **overrides: str) -> dict[str, str]:
    """A service against ``sandbox`` sending its events to the subscriber; under V2 it verifies
    webhooks with the secret the sandbox signs them with."""
    if sandbox.provider == V2:
        overrides["PORTONE_WEBHOOK_SECRET"] = sandbox.admin("GET", "webhooks")["secret"]
    return sandbox.env(**overrides)


@pytest.fixture
def service(sandbox: Sandbox, subscriber: Subscriber) -> Iterator[LiveService]:
    env = loop_env(
        sandbox,
        BILLING_EVENT_URLS=subscriber.url,
        BILLING_EVENT_SECRET=SECRET,
        BILLING_EVENT_RETRY_DELAYS="0.2,0.3,0.5,1,1,1,1,1,1,1",
        **NO_LIMITS,
    )
    live = LiveService(env)
    live.data_dir = env["BILLING_DATA_DIR"]  # type: ignore[attr-defined]
    route = "iamport" if sandbox.provider == V1 else "portone"
    sandbox.admin("POST", "config", webhook_url=f"{live.url}/webhooks/{route}")
    yield live
    live.stop()


# The provider's webhooks as its sandbox records them: I'mport's notices, PortOne V2's webhooks.
RECORD = {V1: "notices", V2: "webhooks"}


def webhooks_sent(sandbox: Sandbox) -> list[dict]:
    """Every notice or webhook attempt since the reset, oldest first."""
    record: list[dict] = sandbox.admin("GET", RECORD[sandbox.provider])[RECORD[sandbox.provider]]
    return record


def wait_webhooks(sandbox: Sandbox, count: int) -> None:
    """Wait until ``count`` attempts since the reset have been made."""
    sandbox.admin("POST", f"{RECORD[sandbox.provider]}/wait", count=count, timeout=10)


def resend(sandbox: Sandbox, merchant_uid: str, times: int) -> None:
    """The provider sends the webhook of ``merchant_uid``'s payment again, ``times`` times."""
    if sandbox.provider == V1:
        [notice] = [n for n in webhooks_sent(sandbox) if n["body"]["merchant_uid"] == merchant_uid]
        sandbox.admin("POST", "notices/resend", id=notice["id"], times=times)
        return
    [webhook] = [
        w for w in webhooks_sent(sandbox) if f'"paymentId":"{merchant_uid}"' in w["payload"]
    ]
    sandbox.admin("POST", "webhooks/resend", webhook_id=webhook["webhook_id"], times=times)


def forge_paid(sandbox: Sandbox, imp_uid: str, merchant_uid: str) -> None:
    """A forged 'paid' webhook (validly signed under V2: PortOne's signature, a lying body)."""
    if sandbox.provider == V1:
        sandbox.admin(
            "POST", "notices/send", imp_uid=imp_uid, merchant_uid=merchant_uid, status="paid"
        )
        return
    data = {"storeId": "store", "paymentId": merchant_uid, "transactionId": imp_uid}
    sandbox.admin("POST", "webhooks/send", type="Transaction.Paid", data=data)


def wait_moved(service: LiveService, sandbox: Sandbox) -> None:
    """Under V2, a re-issuance moves the pending schedules to the new key after its answer,
    then deletes the old key (the job's last step); under V1 they stay with the customer_uid."""
    if sandbox.provider == V2:
        assert poll(lambda: sandbox.count(sandbox.route("delete")) == 1, 20), service.log()


def post(service: LiveService, path: str, body: dict) -> requests.Response:
    return requests.post(service.url + path, json=body, headers=AUTH, timeout=30)


def issue(service: LiveService, card: str) -> None:
    body = {**VALID_BODY, "customer_uid": UID, "card_number": card}
    assert post(service, "/subscriptions/issue-billing", body).status_code == 200


def events_of(received: list[dict], event_type: str) -> list[dict]:
    return [e for e in received if e["type"] == event_type]


def test_the_subscription_loop_end_to_end(service, sandbox, subscriber):
    issue(service, VALID_BODY["card_number"])
    first_at = datetime.now(UTC) + timedelta(days=1)
    charges = [
        {
            "merchant_uid": f"sub-{month}",
            "amount": 9900,
            "name": f"월간 구독 {month}",
            "schedule_at": (first_at + timedelta(days=31 * month)).isoformat(),
        }
        for month in range(2)
    ]
    scheduled = post(
        service, "/subscriptions/schedules", {"customer_uid": UID, "schedules": charges}
    )
    assert scheduled.status_code == 200, scheduled.text
    assert [s["schedule_status"] for s in scheduled.json()["schedules"]] == ["scheduled"] * 2

    # A month later: the first charge ran, was notified, verified, and sent once, signed.
    moved = sandbox.admin("POST", "clock", advance="P1M")
    assert len(moved["executed"]) == 1  # V2 names the schedule's id, V1 its merchant_uid
    if sandbox.provider == V1:
        assert moved["executed"] == ["sub-0"]
    [executed] = events_of(subscriber.wait_for(1), "schedule.executed")
    assert executed["data"]["payment"]["status"] == "paid"
    assert executed["data"]["payment"]["merchant_uid"] == "sub-0"
    assert not events_of(subscriber.received, "payment.paid")  # schedule.* only
    looked_up = requests.get(f"{service.url}/subscriptions/schedules/sub-0", headers=AUTH).json()
    assert looked_up["schedule"]["payment_status"] == "paid"

    # The same notice three times more: still one event.
    sent = len(webhooks_sent(sandbox))
    resend(sandbox, "sub-0", 3)
    wait_webhooks(sandbox, sent + 3)

    # The card is replaced by a declining one, and the subscriber is down while the clock moves.
    issue(service, DECLINING_CARD)
    wait_moved(service, sandbox)
    subscriber.stop()
    sent = len(webhooks_sent(sandbox))
    moved = sandbox.admin("POST", "clock", advance="P1M")
    assert len(moved["executed"]) == 1
    if sandbox.provider == V1:
        assert moved["executed"] == ["sub-1"]
    wait_webhooks(sandbox, sent + 1)
    subscriber.start()
    received = subscriber.wait_for(2)
    [failed] = events_of(received, "schedule.failed")
    assert failed["data"]["payment"]["status"] == "failed"
    assert failed["data"]["payment"]["fail_reason"]

    # Forged notices: a paid status for the payment that failed (V2's names it under another
    # paymentId: its webhooks carry no status), and an unknown imp_uid.
    imp_uid = failed["data"]["payment"]["imp_uid"]
    sent = len(webhooks_sent(sandbox))
    forge_paid(sandbox, imp_uid, "sub-1" if sandbox.provider == V1 else "sub-0")
    forge_paid(sandbox, "imps_000000000001", "x")
    wait_webhooks(sandbox, sent + 2)
    deliveries = requests.get(f"{service.url}/events", headers=AUTH).json()["events"]
    assert sorted(d["event_type"] for d in deliveries) == ["schedule.executed", "schedule.failed"]
    assert subscriber.rejected == 0
    assert len({e["id"] for e in subscriber.received}) == len(subscriber.received) == 2
    audits = [e for e in service.entries() if e.get("action") == "webhook"]
    assert {"verified", "mismatch", "unknown"} <= {e["outcome"] for e in audits}
    # What the service kept (the state store, the outbox and its events) and what it logged
    # holds the masked card number only.
    kept = b"".join(p.read_bytes() for p in Path(service.data_dir).iterdir() if p.is_file())
    for text in (kept.decode("latin-1"), service.log(), json.dumps(subscriber.received)):
        assert not known_cards_in(text) and not card_numbers_in(text)
    assert b"424242******4242" in kept


def test_a_key_with_a_pending_schedule_is_deleted_only_once_revoked(service, sandbox):
    issue(service, VALID_BODY["card_number"])
    at = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    body = {
        "customer_uid": UID,
        "schedules": [{"merchant_uid": "later-1", "amount": 100, "name": "x", "schedule_at": at}],
    }
    assert post(service, "/subscriptions/schedules", body).status_code == 200

    key = f"{service.url}/subscriptions/billing-keys/{UID}"
    refused = requests.delete(key, headers=AUTH)
    revoked = requests.delete(f"{service.url}/subscriptions/schedules/later-1", headers=AUTH)
    deleted = requests.delete(key, headers=AUTH)

    assert (refused.status_code, refused.json()["code"]) == (409, "schedules_pending")
    assert revoked.status_code == 200 and revoked.json()["schedule"]["schedule_status"] == "revoked"
    assert deleted.status_code == 200
    again = requests.delete(f"{service.url}/subscriptions/schedules/later-1", headers=AUTH)
    assert (again.status_code, again.json()["code"]) == (409, "schedule_not_revocable")


def test_a_schedule_whose_notice_never_came_is_looked_up(sandbox, subscriber):
    env = loop_env(
        sandbox,
        BILLING_EVENT_URLS=subscriber.url,
        BILLING_EVENT_SECRET=SECRET,
        BILLING_EVENT_RETRY_DELAYS="0.2,0.2,0.2",
        # Looked up as soon as it was due (and the real clock is what the service sees).
        BILLING_SCHEDULE_RECONCILE_AFTER="0.5",
    )
    service = LiveService(env)
    try:
        issue(service, VALID_BODY["card_number"])
        at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        body = {
            "customer_uid": UID,
            "schedules": [
                {"merchant_uid": "quiet-1", "amount": 100, "name": "x", "schedule_at": at}
            ],
        }
        assert post(service, "/subscriptions/schedules", body).status_code == 200
        # No notice: the sandbox has no webhook URL (a console without one). Under V2 its
        # scheduler runs the charge when the real time reaches it.
        [executed] = subscriber.wait_for(1, timeout=30)
    finally:
        service.stop()

    assert executed["type"] == "schedule.executed"
    assert executed["data"]["source"] == "reconciliation"


def test_a_browser_checkout_on_a_failed_order_is_no_event(sandbox, provider, request):
    v1_only(provider, "a payment window's payment is I'mport's (the V2 sandbox has no checkout)")
    service, subscriber = request.getfixturevalue("service"), request.getfixturevalue("subscriber")
    issue(service, DECLINING_CARD)
    charge = {"customer_uid": UID, "merchant_uid": "order-7", "amount": 9900, "name": "x"}
    assert post(service, "/subscriptions/payments", charge).status_code == 402
    [failed] = subscriber.wait_for(1)

    # A buyer pays the same order in I'mport's payment window (I'mport lets a failed
    # merchant_uid be paid again); I'mport notifies the service of it as of any payment.
    checkout = sandbox.admin("POST", "payments/checkout", merchant_uid="order-7", amount=9900)
    [notice] = sandbox.admin("POST", "notices/wait", count=1, timeout=10)["notices"]
    assert (notice["body"]["imp_uid"], notice["status"]) == (checkout["imp_uid"], 200)
    service.wait_for('"outcome": "not_billing_key"')

    assert failed["type"] == "payment.failed"
    deliveries = requests.get(f"{service.url}/events", headers=AUTH).json()["events"]
    assert [d["event_type"] for d in deliveries] == ["payment.failed"]
    # Every payment of the bundled sandbox is a test payment, and its events say so.
    assert [e["data"]["payment"]["sandbox"] for e in subscriber.received] == [True]
