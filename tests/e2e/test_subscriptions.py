"""The subscription loop through gunicorn and the sandbox: schedule charges, move the sandbox's
clock, and receive each verified outcome once as a signed event at a local subscriber that
checks every signature with the standardwebhooks library."""

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
    VALID_BODY,
    LiveService,
    Sandbox,
    card_numbers_in,
    known_cards_in,
    service_env,
)

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


@pytest.fixture
def service(sandbox: Sandbox, subscriber: Subscriber) -> Iterator[LiveService]:
    env = service_env(
        sandbox.url,
        BILLING_EVENT_URLS=subscriber.url,
        BILLING_EVENT_SECRET=SECRET,
        BILLING_EVENT_RETRY_DELAYS="0.2,0.3,0.5,1,1,1,1,1,1,1",
        **NO_LIMITS,
    )
    live = LiveService(env)
    live.data_dir = env["BILLING_DATA_DIR"]  # type: ignore[attr-defined]
    sandbox.admin("POST", "config", webhook_url=f"{live.url}/webhooks/iamport")
    yield live
    live.stop()


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
    assert moved["executed"] == ["sub-0"]
    [executed] = events_of(subscriber.wait_for(1), "schedule.executed")
    assert executed["data"]["payment"]["status"] == "paid"
    assert executed["data"]["payment"]["merchant_uid"] == "sub-0"
    assert not events_of(subscriber.received, "payment.paid")  # schedule.* only
    looked_up = requests.get(f"{service.url}/subscriptions/schedules/sub-0", headers=AUTH).json()
    assert looked_up["schedule"]["payment_status"] == "paid"

    # The same notice three times more: still one event.
    [notice] = [n for n in sandbox.admin("GET", "notices")["notices"] if '"sub-0"' in json.dumps(n)]
    sandbox.admin("POST", "notices/resend", id=notice["id"], times=3)
    sandbox.admin("POST", "notices/wait", count=4, timeout=10)

    # The card is replaced by a declining one, and the subscriber is down while the clock moves.
    issue(service, DECLINING_CARD)
    subscriber.stop()
    assert sandbox.admin("POST", "clock", advance="P1M")["executed"] == ["sub-1"]
    sandbox.admin("POST", "notices/wait", count=5, timeout=10)
    subscriber.start()
    received = subscriber.wait_for(2)
    [failed] = events_of(received, "schedule.failed")
    assert failed["data"]["payment"]["status"] == "failed"
    assert failed["data"]["payment"]["fail_reason"]

    # Forged notices: a paid status for the payment that failed, and an unknown imp_uid.
    imp_uid = failed["data"]["payment"]["imp_uid"]
    forged = {"imp_uid": imp_uid, "merchant_uid": "sub-1", "status": "paid"}
    sandbox.admin("POST", "notices/send", **forged)
    sandbox.admin(
        "POST", "notices/send", imp_uid="imps_000000000001", merchant_uid="x", status="paid"
    )
    sandbox.admin("POST", "notices/wait", count=7, timeout=10)
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
    env = service_env(
        sandbox.url,
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
        # No notice: the sandbox has no webhook URL (a console without one).
        [executed] = subscriber.wait_for(1, timeout=30)
    finally:
        service.stop()

    assert executed["type"] == "schedule.executed"
    assert executed["data"]["source"] == "reconciliation"


def test_a_browser_checkout_on_a_failed_order_is_no_event(service, sandbox, subscriber):
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
