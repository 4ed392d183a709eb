"""I'mport's notices, in process against the sandbox: verified by fetching the payment, one
event per change, forged and stale ones ignored and audited, senders restricted."""

from __future__ import annotations

import base64
import logging
import time

import pytest
import requests

from billing_service import create_app
from billing_service.api.publisher import VERIFY_NOTICE, EventPublisher
from billing_service.events.outbox import DEDUP_TTL_S, DELIVERY, EmbeddedOutbox
from billing_service.extensions import shared
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

from ..support import CALLER_KEY, NO_LIMITS, VALID_BODY, service_env

SECRET = "whsec_" + base64.b64encode(b"webhook-tests-secret-of-32-bytes").decode()
AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
NOTICES = "/webhooks/iamport"
CHARGES = "/subscriptions/payments"
DECLINING_CARD = "4000-0000-0000-0341"


def make(sandbox, **env: str):
    settings = service_env(
        sandbox.url,
        BILLING_EVENT_URLS="http://127.0.0.1:9/events",
        BILLING_EVENT_SECRET=SECRET,
        **NO_LIMITS,
        **env,
    )
    return create_app(settings)


@pytest.fixture
def app(sandbox):
    return make(sandbox)


@pytest.fixture
def paid(app) -> dict:
    client = app.test_client()
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY, headers=AUTH).status_code
    charge = {"customer_uid": VALID_BODY["customer_uid"], "merchant_uid": "w-1", "amount": 900}
    resp = client.post("/subscriptions/payments", json={**charge, "name": "x"}, headers=AUTH)
    assert resp.status_code == 200
    payment: dict = resp.get_json()["payment"]
    return payment


def events(app) -> list[str]:
    records = shared(app).events.outbox.records(None)
    return sorted(r.event_type for r in records if r.kind == DELIVERY)


def test_a_charge_is_an_event_and_its_notice_adds_none(app, paid, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "paid"}

    for _ in range(3):
        assert app.test_client().post(NOTICES, json=notice).status_code == 200
    # Form-encoded, as the console may be set to send it.
    assert app.test_client().post(NOTICES, data=notice).status_code == 200

    assert events(app) == ["payment.paid"]
    outcomes = [r.fields["outcome"] for r in caplog.records if r.name == "billing_service.audit"]
    assert outcomes.count("verified") == 4


@pytest.mark.parametrize(
    ("notice", "outcome"),
    [
        ({"merchant_uid": "w-1", "status": "cancelled"}, "mismatch"),  # I'mport says paid
        ({"merchant_uid": "other", "status": "paid"}, "mismatch"),
        ({"imp_uid": "imps_000000000001", "merchant_uid": "w-1", "status": "paid"}, "unknown"),
    ],
)
def test_a_notice_imports_disagrees_with_changes_nothing(app, paid, caplog, notice, outcome):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    body = {"imp_uid": paid["imp_uid"], **notice}

    assert app.test_client().post(NOTICES, json=body).status_code == 200

    assert events(app) == ["payment.paid"]
    [audit] = [
        r.fields for r in caplog.records if getattr(r, "fields", {}).get("action") == "webhook"
    ]
    assert audit["outcome"] == outcome


def test_a_cancel_is_one_event_per_change(app, paid):
    client = app.test_client()
    url = f"/subscriptions/payments/{paid['imp_uid']}/cancel"

    assert client.post(url, json={"reason": "x", "amount": 100}, headers=AUTH).status_code == 200
    assert client.post(url, json={"reason": "x"}, headers=AUTH).status_code == 200
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "cancelled"}
    assert client.post(NOTICES, json=notice).status_code == 200

    assert events(app) == ["payment.cancelled", "payment.paid", "payment.partially_cancelled"]


def test_a_notice_that_cannot_be_verified_now_is_kept(app, paid, sandbox):
    sandbox.admin("POST", "faults", route="GET /payments/{imp_uid}", fault="http_500", times=1)
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "paid"}

    assert app.test_client().post(NOTICES, json=notice).status_code == 200

    kept = [
        r
        for r in shared(app).events.outbox.records(None)
        if r.kind == VERIFY_NOTICE  # not the charge's own follow-up
    ]
    assert [r.status for r in kept] == ["pending"]


def test_only_the_allowed_addresses_may_post_notices(sandbox, paid):
    app = make(
        sandbox,
        BILLING_WEBHOOK_ALLOWED_IPS="52.78.100.19,52.78.48.223,52.78.5.241",
        BILLING_TRUSTED_PROXIES="10.0.0.2",
    )
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "paid"}
    client = app.test_client()

    direct = client.post(NOTICES, json=notice, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    forged_xff = client.post(
        NOTICES,
        json=notice,
        headers={"X-Forwarded-For": "52.78.100.19"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    proxied = client.post(
        NOTICES,
        json=notice,
        headers={"X-Forwarded-For": "52.78.100.19"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )

    assert direct.status_code == forged_xff.status_code == 403
    assert proxied.status_code == 200


def test_allowed_senders_and_trusted_proxies_may_be_cidr_ranges(sandbox, paid):
    # An ingress controller's pods change addresses within their range.
    app = make(
        sandbox,
        BILLING_WEBHOOK_ALLOWED_IPS="52.78.100.19, 52.78.48.0/24",
        BILLING_TRUSTED_PROXIES="10.0.0.0/16",
    )
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "paid"}
    client = app.test_client()

    def from_ingress(sender: str) -> int:
        return client.post(
            NOTICES,
            json=notice,
            headers={"X-Forwarded-For": sender},
            environ_base={"REMOTE_ADDR": "10.0.7.9"},
        ).status_code

    assert from_ingress("52.78.48.223") == 200
    assert from_ingress("52.78.49.1") == 403
    outside = client.post(
        NOTICES,
        json=notice,
        headers={"X-Forwarded-For": "52.78.48.223"},
        environ_base={"REMOTE_ADDR": "10.1.0.1"},  # not a trusted proxy: its header is not believed
    )
    assert outside.status_code == 403


def test_with_a_token_notices_come_only_to_the_secret_path(sandbox, paid):
    token = "t0k3n-0123456789abcdef"
    app = make(sandbox, BILLING_WEBHOOK_TOKEN=token)
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "paid"}
    client = app.test_client()

    assert client.post(NOTICES, json=notice).status_code == 404
    assert client.post(f"{NOTICES}/wrong-token-0123456789", json=notice).status_code == 404
    assert client.post(f"{NOTICES}/{token}", json=notice).status_code == 200


def test_readyz_reports_a_stopped_event_consumer(app):
    consumer = shared(app).events.consumer
    client = app.test_client()
    consumer.start()
    try:
        assert client.get("/readyz").status_code == 200
    finally:
        consumer.stop(timeout=5)
    # Stopped on purpose here; a consumer thread that died reads the same.
    consumer._stopping.clear()  # as if it had not been asked to stop: a dead thread, started

    resp = client.get("/readyz")

    assert resp.status_code == 503
    assert resp.get_json()["message"] == "The event consumer of this worker has stopped."


def test_without_a_subscriber_each_change_is_logged_once(sandbox, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.events")
    app = create_app(service_env(sandbox.url, **NO_LIMITS))
    client = app.test_client()
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY, headers=AUTH).status_code
    charge = {"customer_uid": VALID_BODY["customer_uid"], "merchant_uid": "w-9", "amount": 900}
    payment = client.post("/subscriptions/payments", json={**charge, "name": "x"}, headers=AUTH)
    notice = {"imp_uid": payment.get_json()["payment"]["imp_uid"], "merchant_uid": "w-9"}

    for _ in range(2):
        assert client.post(NOTICES, json={**notice, "status": "paid"}).status_code == 200

    logged = [r.getMessage() for r in caplog.records if r.name == "billing_service.events"]
    assert logged == ["event payment.paid (no subscriber)"]


# --- notices act only on this service's kind of payment, once per change --------------------


def audited(caplog) -> list[str]:
    return [
        r.fields["outcome"]
        for r in caplog.records
        if getattr(r, "fields", {}).get("action") == "webhook"
    ]


@pytest.mark.parametrize("customer_uid", [None, VALID_BODY["customer_uid"]])
def test_a_browser_checkout_on_a_failed_order_of_ours_is_no_payment(
    app, sandbox, caplog, customer_uid
):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    client = app.test_client()
    body = {**VALID_BODY, "card_number": DECLINING_CARD}
    assert client.post("/subscriptions/issue-billing", json=body, headers=AUTH).status_code == 200
    charge = {"customer_uid": body["customer_uid"], "merchant_uid": "w-2", "amount": 900}
    declined = client.post("/subscriptions/payments", json={**charge, "name": "x"}, headers=AUTH)
    assert declined.status_code == 402
    # I'mport lets a failed merchant_uid be paid again: here by a buyer in the payment window,
    # with no card stored or with the card stored as a key (customer_uid_usage "issue").
    checkout = sandbox.admin(
        "POST", "payments/checkout", merchant_uid="w-2", amount=900, customer_uid=customer_uid
    )
    notice = {"imp_uid": checkout["imp_uid"], "merchant_uid": "w-2", "status": "paid"}

    assert client.post(NOTICES, json=notice).status_code == 200

    assert events(app) == ["payment.failed"]
    assert audited(caplog) == ["not_billing_key"]


def test_payments_carry_imports_sandbox_flag_in_every_answer(app, sandbox, paid):
    # As the live API since 2026-01-26: test payments are found only with include_sandbox=true.
    sandbox.admin("POST", "config", hide_sandbox_payments=True)
    client = app.test_client()
    looked_up = client.get(f"/subscriptions/payments/{paid['imp_uid']}", headers=AUTH)
    found = client.get("/subscriptions/payments/by-merchant-uid/w-1", headers=AUTH)
    cancelled = client.post(
        f"/subscriptions/payments/{paid['imp_uid']}/cancel", json={"reason": "x"}, headers=AUTH
    )

    # The bundled sandbox's payments are test-channel payments (the events: test_subscriptions).
    assert paid["sandbox"] is True
    for answer in (looked_up, found, cancelled):
        assert answer.get_json()["payment"]["sandbox"] is True


def days_later(app, days: float) -> None:
    """The service as it will be ``days`` later: its clock, and its outbox's, moved on."""

    def later() -> float:
        return time.time() + days * 86400

    current = shared(app).events
    shared(app).events = EventPublisher(
        EmbeddedOutbox(current.outbox.path, later),
        current.urls,
        shared(app).gateway,
        reconcile_after=60,
        recheck_after=60,
        request_lasts=240,
        clock=later,
    )


def test_a_notice_replayed_after_the_dedup_window_is_refused(app, paid, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "paid"}

    days_later(app, DEDUP_TTL_S / 86400 - 2)  # inside the window: the outbox remembers
    assert app.test_client().post(NOTICES, json=notice).status_code == 200
    days_later(app, DEDUP_TTL_S / 86400 + 1)  # past it: the outbox has forgotten the event
    assert app.test_client().post(NOTICES, json=notice).status_code == 200

    assert events(app) == ["payment.paid"]
    assert audited(caplog) == ["verified", "stale"]


def test_a_charge_replayed_after_the_dedup_window_sends_no_event_again(app, caplog):
    client = app.test_client()
    assert client.post("/subscriptions/issue-billing", json=VALID_BODY, headers=AUTH).status_code
    charge = {"customer_uid": VALID_BODY["customer_uid"], "merchant_uid": "w-2", "amount": 900}
    assert client.post(CHARGES, json={**charge, "name": "x"}, headers=AUTH).status_code == 200

    # The order charged again after the outbox forgot its event: I'mport's payment is answered
    # again (replayed), and must not be told again.
    days_later(app, DEDUP_TTL_S / 86400 + 1)
    replayed = client.post(CHARGES, json={**charge, "name": "x"}, headers=AUTH)

    assert replayed.status_code == 200 and replayed.get_json()["replayed"] is True
    assert events(app) == ["payment.paid"]
    assert any("No event (charge)" in r.getMessage() for r in caplog.records)


def cancel_at_imports(sandbox, imp_uid: str, amount: int) -> str:
    """A partial cancel made at I'mport itself (PortOne's console), not through the service;
    its cancellation_id."""
    auth = {"imp_key": DEFAULT_API_KEY, "imp_secret": DEFAULT_API_SECRET}
    token = requests.post(f"{sandbox.url}/users/getToken", json=auth, timeout=5).json()
    headers = {"Authorization": f"Bearer {token['response']['access_token']}"}
    body = {"imp_uid": imp_uid, "amount": amount, "reason": "console"}
    done = requests.post(f"{sandbox.url}/payments/cancel", json=body, headers=headers, timeout=5)
    cancellation_id: str = done.json()["response"]["cancel_history"][-1]["cancellation_id"]
    return cancellation_id


def cancel_notices(sandbox, paid) -> list[dict]:
    """Two partial cancels at I'mport, both done before either notice arrives."""
    ids = [cancel_at_imports(sandbox, paid["imp_uid"], amount) for amount in (100, 200)]
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w-1", "status": "cancelled"}
    return [{**notice, "cancellation_id": cancellation_id} for cancellation_id in ids]


def test_each_cancels_notice_is_its_own_event(app, sandbox, paid, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    first, second = cancel_notices(sandbox, paid)
    client = app.test_client()

    for notice in (first, second, first, second):
        assert client.post(NOTICES, json=notice).status_code == 200
    forged = {**first, "cancellation_id": "0" * 20}
    assert client.post(NOTICES, json=forged).status_code == 200

    assert events(app) == [
        "payment.paid",
        "payment.partially_cancelled",
        "payment.partially_cancelled",
    ]
    assert audited(caplog) == ["verified"] * 4 + ["mismatch"]


def test_each_cancels_deferred_notice_is_kept_and_becomes_its_event(app, sandbox, paid):
    first, second = cancel_notices(sandbox, paid)
    sandbox.admin("POST", "faults", route="GET /payments/{imp_uid}", fault="http_500", times=2)
    client = app.test_client()
    for notice in (first, second):
        assert client.post(NOTICES, json=notice).status_code == 200
    kept = [r for r in shared(app).events.outbox.records(None) if r.kind == VERIFY_NOTICE]
    assert len(kept) == 2

    consumer = shared(app).events.consumer
    consumer.start()
    try:
        deadline = time.monotonic() + 20
        while events(app).count("payment.partially_cancelled") < 2:
            assert time.monotonic() < deadline, events(app)
            time.sleep(0.05)
    finally:
        consumer.stop(timeout=5)
    assert events(app) == [
        "payment.paid",
        "payment.partially_cancelled",
        "payment.partially_cancelled",
    ]
