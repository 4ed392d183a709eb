"""PortOne V2's webhooks, in process against the V2 sandbox: signed with the Standard Webhooks
scheme (as PortOne's SDK verifies them), acted on only as PortOne shows the payment, one event
per change, a deleted key forgotten only while it is the one the service names."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from portone_server_sdk import webhook as portone_webhook
from standardwebhooks import Webhook

from billing_service import create_app
from billing_service.api.publisher import VERIFY_NOTICE
from billing_service.config import ConfigError, Settings
from billing_service.events.outbox import DELIVERY
from billing_service.extensions import shared
from billing_service.gateway import GatewayUnavailable
from billing_service.sandbox import portone_v2

from ..support import (
    CALLER_KEY,
    CARD,
    NO_LIMITS,
    SANDBOX_MODE,
    V2,
    VALID_BODY,
    LiveService,
    Sandbox,
)

SECRET = "whsec_" + base64.b64encode(b"portone-webhook-secret-of-32-byt").decode()
NEXT_SECRET = "whsec_" + base64.b64encode(b"the-next-webhook-secret-32-bytes").decode()
EVENT_SECRET = "whsec_" + base64.b64encode(b"event-signing-secret-of-32-bytes").decode()
AUTH = {"Authorization": f"Bearer {CALLER_KEY}"}
WEBHOOKS = "/webhooks/portone"
UID = VALID_BODY["customer_uid"]
DECLINING_CARD = "4000000000000341"


@pytest.fixture
def provider() -> str:
    return V2


def make(sandbox: Sandbox, **env: str):
    settings = sandbox.env(
        **{
            "BILLING_EVENT_URLS": "http://127.0.0.1:9/events",
            "BILLING_EVENT_SECRET": EVENT_SECRET,
            "PORTONE_WEBHOOK_SECRET": SECRET,
            **NO_LIMITS,
            **env,
        }
    )
    return create_app({name: value for name, value in settings.items() if value})


@pytest.fixture
def app(sandbox):
    return make(sandbox)


def issue(app, card: str = VALID_BODY["card_number"]) -> None:
    body = {**VALID_BODY, "card_number": card}
    resp = app.test_client().post("/subscriptions/issue-billing", json=body, headers=AUTH)
    assert resp.status_code == 200


def charge(app, merchant_uid: str = "w2-1", status: int = 200) -> dict:
    body = {"customer_uid": UID, "merchant_uid": merchant_uid, "amount": 900, "name": "x"}
    resp = app.test_client().post("/subscriptions/payments", json=body, headers=AUTH)
    assert resp.status_code == status
    payment: dict = resp.get_json()["payment"]
    return payment


@pytest.fixture
def paid(app) -> dict:
    issue(app)
    return charge(app)


def signed(
    body: dict[str, Any],
    secret: str = SECRET,
    *,
    webhook_id: str | None = None,
    at: datetime | None = None,
) -> tuple[str, dict[str, str]]:
    """The body as PortOne sends it (its text) and its Standard Webhooks headers."""
    text = json.dumps(body, separators=(",", ":"))
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(webhook_id, at, text)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    return text, headers


def transaction(kind: str, payment: dict, **data: str) -> dict[str, Any]:
    return {
        "type": f"Transaction.{kind}",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "paymentId": payment["merchant_uid"],
            "transactionId": payment["imp_uid"],
            "storeId": portone_v2.DEFAULT_STORE_ID,
            **data,
        },
    }


def post(app, body: dict[str, Any], secret: str = SECRET, path: str = WEBHOOKS, **kwargs: Any):
    text, headers = signed(body, secret, **kwargs)
    return app.test_client().post(path, data=text, headers=headers, content_type="application/json")


def events(app) -> list[str]:
    records = shared(app).events.outbox.records(None)
    return sorted(r.event_type for r in records if r.kind == DELIVERY)


def audits(caplog) -> list[dict]:
    return [r.fields for r in caplog.records if getattr(r, "fields", {}).get("action") == "webhook"]


def at_portone(sandbox: Sandbox, method: str, path: str, /, **body: Any) -> dict:
    """A call made at PortOne by someone else than the service (its console, another system)."""
    resp = requests.request(
        method,
        f"{sandbox.url}{path}",
        params={"storeId": portone_v2.DEFAULT_STORE_ID},
        json=body or None,
        headers={"Authorization": f"PortOne {portone_v2.DEFAULT_API_SECRET}"},
        timeout=10,
    )
    resp.raise_for_status()
    answer: dict = resp.json()
    return answer


def key_named(app) -> str | None:
    return shared(app).state.get_name(f"v2-key:{UID}")


def test_a_paid_webhook_adds_no_event_to_the_charges_however_often_it_comes(app, paid, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    body = transaction("Paid", paid)

    for _ in range(3):  # PortOne's retries: the same webhook-id
        assert post(app, body, webhook_id="msg_same").status_code == 200
    assert post(app, body).status_code == 200  # resent by hand: a new webhook-id

    assert events(app) == ["payment.paid"]
    assert [a["outcome"] for a in audits(caplog)] == ["verified"] * 4


def test_a_cancel_made_at_portone_is_one_event_however_often_its_webhook_comes(app, sandbox, paid):
    at_portone(sandbox, "POST", f"/payments/{paid['merchant_uid']}/cancel", reason="console")
    cancelled = transaction("Cancelled", paid)

    for _ in range(2):
        assert post(app, cancelled, webhook_id="msg_cancel").status_code == 200
    assert post(app, cancelled).status_code == 200

    assert events(app) == ["payment.cancelled", "payment.paid"]


def test_a_webhook_that_lies_is_acted_on_as_portone_shows_the_payment(app, sandbox, paid, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    at_portone(sandbox, "POST", f"/payments/{paid['merchant_uid']}/cancel", reason="console")

    # Signed by PortOne, but late or out of order: the payment is cancelled now.
    assert post(app, transaction("Paid", paid)).status_code == 200

    assert events(app) == ["payment.cancelled", "payment.paid"]
    assert [a["outcome"] for a in audits(caplog)] == ["verified"]


def test_a_paid_webhook_of_a_declined_charge_sends_no_paid_event(app):
    issue(app, card=DECLINING_CARD)
    resp = app.test_client().post(
        "/subscriptions/payments",
        json={"customer_uid": UID, "merchant_uid": "w2-declined", "amount": 900, "name": "x"},
        headers=AUTH,
    )
    assert resp.status_code == 402
    failed = resp.get_json()["payment"]

    assert post(app, transaction("Paid", failed)).status_code == 200

    assert "payment.paid" not in events(app)
    assert events(app) == ["payment.failed"]


def test_a_webhook_naming_another_payment_or_none_changes_nothing(app, paid, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    other = {**paid, "merchant_uid": "someone-elses"}
    unknown = {**paid, "imp_uid": str(uuid.uuid4())}

    assert post(app, transaction("Paid", other)).status_code == 200
    assert post(app, transaction("Paid", unknown)).status_code == 200

    assert events(app) == ["payment.paid"]
    assert [a["outcome"] for a in audits(caplog)] == ["mismatch", "unknown"]


def test_a_payment_on_a_key_another_integration_issued_makes_no_event(app, sandbox, caplog):
    """Issue 19: events only for payments on keys this service issued. Another integration of
    the same store issues its own key, even under one of our customer ids, and charges it."""
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    issue(app)
    card = {"number": CARD, "expiryYear": "31", "expiryMonth": "07", "passwordTwoDigits": "47"}
    card["birthOrBusinessRegistrationNumber"] = "880101"
    for n, customer_id in enumerate(["someone-elses-customer", UID]):
        foreign = at_portone(
            sandbox,
            "POST",
            "/billing-keys",
            method={"card": {"credential": card}},
            customer={"id": customer_id},
            channelKey=portone_v2.DEFAULT_CHANNEL_KEY,
        )["billingKeyInfo"]["billingKey"]
        at_portone(
            sandbox,
            "POST",
            f"/payments/foreign-{n}/billing-key",
            billingKey=foreign,
            orderName="not ours",
            amount={"total": 1000},
            currency="KRW",
            channelKey=portone_v2.DEFAULT_CHANNEL_KEY,
        )
        payment = at_portone(sandbox, "GET", f"/payments/foreign-{n}")
        ids = {"merchant_uid": f"foreign-{n}", "imp_uid": payment["transactionId"]}

        assert post(app, transaction("Paid", ids)).status_code == 200

    assert events(app) == []
    assert [a["outcome"] for a in audits(caplog)] == ["not_billing_key"] * 2


def test_a_webhook_portone_cannot_be_asked_about_now_is_kept_and_verified_later(
    app, paid, monkeypatch, caplog
):
    """As I'mport's notices: kept as a job (200, PortOne need not resend it), verified on the
    events' retry schedule once PortOne answers."""
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    gateway = shared(app).gateway

    def unreachable(merchant_uid: str) -> None:
        raise GatewayUnavailable("PortOne is down")

    with monkeypatch.context() as patched:
        patched.setattr(gateway, "find_payment", unreachable)
        for _ in range(2):  # resent: one job
            assert post(app, transaction("Paid", paid)).status_code == 200
    kept = [r for r in shared(app).events.outbox.records(None) if r.kind == VERIFY_NOTICE]
    assert len(kept) == 1
    assert [a["outcome"] for a in audits(caplog)] == ["deferred"] * 2


@pytest.mark.parametrize(
    "kind", ["Transaction.Ready", "Transaction.VirtualAccountIssued", "Something.New", None]
)
def test_other_and_unknown_types_are_answered_and_ignored(app, paid, caplog, kind):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    body: dict[str, Any] = {**transaction("Paid", paid), "type": kind}

    resp = post(app, body)

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "received"}
    assert events(app) == ["payment.paid"]
    assert [a["outcome"] for a in audits(caplog)] == ["ignored"]


def test_a_bad_missing_or_expired_signature_is_400_and_audited(app, paid, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    body = transaction("Paid", paid)
    client = app.test_client()
    text, headers = signed(body)

    answers = [
        post(app, body, secret=NEXT_SECRET),  # not our secret
        post(app, body, at=datetime.now(UTC) - timedelta(minutes=6)),  # too old
        post(app, body, at=datetime.now(UTC) + timedelta(minutes=6)),  # too new
        client.post(WEBHOOKS, data=text, content_type="application/json"),  # unsigned
        client.post(  # signed, then changed
            WEBHOOKS,
            data=text.replace("Paid", "Failed"),
            headers=headers,
            content_type="application/json",
        ),
        client.post(  # re-serialised: the signature is over the text as it was sent
            WEBHOOKS,
            data=json.dumps(json.loads(text), indent=1),
            headers=headers,
            content_type="application/json",
        ),
        client.post(
            WEBHOOKS,
            data=text,
            headers={**headers, "webhook-signature": "v1"},  # malformed
            content_type="application/json",
        ),
    ]

    assert [a.status_code for a in answers] == [400] * 7
    assert {a.get_json()["code"] for a in answers} == {"invalid_signature"}
    assert [a["outcome"] for a in audits(caplog)] == ["invalid_signature"] * 7
    assert events(app) == ["payment.paid"]
    # Within the tolerance, and with header names in any case: verified.
    late = post(app, body, at=datetime.now(UTC) - timedelta(minutes=4))
    shouting = client.post(
        WEBHOOKS,
        data=text,
        headers={name.title(): value for name, value in headers.items()},
        content_type="application/json",
    )
    assert late.status_code == shouting.status_code == 200


def test_two_secrets_overlap_during_a_rotation(sandbox, paid):
    app = make(sandbox, PORTONE_WEBHOOK_SECRET=f"{SECRET}, {NEXT_SECRET}")
    body = transaction("Paid", paid)

    assert post(app, body, secret=SECRET).status_code == 200
    assert post(app, body, secret=NEXT_SECRET).status_code == 200
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert post(app, body, secret=other).status_code == 400


def test_without_a_secret_webhooks_are_503_and_the_log_says_why(sandbox, paid, caplog):
    app = make(sandbox, PORTONE_WEBHOOK_SECRET="")

    resp = post(app, transaction("Paid", paid))

    assert resp.status_code == 503
    assert resp.get_json()["code"] == "webhook_not_configured"
    assert any("answered 503 (set it" in r.getMessage() for r in caplog.records)
    # Optional at start, but said so there.
    settings = Settings.from_env(sandbox.env())
    assert any("PORTONE_WEBHOOK_SECRET is not set" in w for w in settings.warnings)


def test_portones_sdk_verifies_what_the_service_verifies(app, paid):
    body = transaction("Paid", paid)
    text, headers = signed(body)

    parsed = portone_webhook.verify(SECRET, text, headers)

    assert type(parsed).__name__ == "WebhookTransactionPaid"
    assert parsed.data.payment_id == paid["merchant_uid"]
    resp = app.test_client().post(
        WEBHOOKS, data=text, headers=headers, content_type="application/json"
    )
    assert resp.status_code == 200
    with pytest.raises(portone_webhook.WebhookVerificationError):
        portone_webhook.verify(NEXT_SECRET, text, headers)


def deleted(billing_key: str) -> dict[str, Any]:
    return {
        "type": "BillingKey.Deleted",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {"billingKey": billing_key, "storeId": portone_v2.DEFAULT_STORE_ID},
    }


def test_a_deleted_key_is_forgotten_while_the_service_names_it(app, sandbox, caplog):
    caplog.set_level(logging.INFO, logger="billing_service.audit")
    issue(app)
    billing_key = key_named(app)
    assert billing_key is not None
    # Not deleted (a forged or early webhook): kept.
    assert post(app, deleted(billing_key)).status_code == 200
    assert key_named(app) == billing_key

    at_portone(sandbox, "DELETE", f"/billing-keys/{billing_key}")
    assert post(app, deleted(billing_key)).status_code == 200

    assert key_named(app) is None
    assert [a["outcome"] for a in audits(caplog)] == ["key_kept", "key_forgotten"]


def test_a_deleted_key_a_new_one_replaced_leaves_the_new_one_named(app, sandbox):
    issue(app)
    old = key_named(app)
    issue(app)  # re-issued: the service names the new key
    new = key_named(app)
    assert old is not None and new not in (None, old)

    at_portone(sandbox, "DELETE", f"/billing-keys/{old}")
    assert post(app, deleted(old)).status_code == 200

    assert key_named(app) == new


def test_each_providers_webhook_route_is_404_under_the_other(app, sandbox_server, paid):
    v1 = create_app(sandbox_server.env())
    notice = {"imp_uid": paid["imp_uid"], "merchant_uid": "w2-1", "status": "paid"}

    assert post(v1, transaction("Paid", paid)).status_code == 404
    assert app.test_client().post("/webhooks/iamport", json=notice).status_code == 404


def test_with_a_token_webhooks_come_only_to_the_secret_path(sandbox, paid):
    token = "t0k3n-0123456789abcdef"
    app = make(sandbox, BILLING_WEBHOOK_TOKEN=token)
    body = transaction("Paid", paid)

    assert post(app, body).status_code == 404
    assert post(app, body, path=f"{WEBHOOKS}/wrong-token-0123456789").status_code == 404
    assert post(app, body, path=f"{WEBHOOKS}/{token}").status_code == 200


def test_no_card_data_in_the_logs(app, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    issue(app)
    payment = charge(app)
    at_portone(sandbox, "POST", f"/payments/{payment['merchant_uid']}/cancel", reason="x")
    billing_key = key_named(app)
    assert billing_key is not None
    at_portone(sandbox, "DELETE", f"/billing-keys/{billing_key}")
    for body in (
        transaction("Paid", payment),
        transaction("Cancelled", payment),
        deleted(billing_key),
        {"type": "Other", "data": {}},
    ):
        assert post(app, body).status_code == 200
    assert post(app, transaction("Paid", payment), secret=NEXT_SECRET).status_code == 400

    text = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert CARD not in text and CARD[-8:] not in text
    assert SECRET not in text and SECRET.removeprefix("whsec_") not in text


def test_sandbox_mode_makes_a_secret_that_the_environment_then_carries():
    sandbox_env = {"BILLING_SANDBOX": "true", "BILLING_PROVIDER": V2}
    first = Settings.from_env(sandbox_env).portone
    assert first is not None
    [generated] = first.webhook_secrets
    assert generated.startswith("whsec_")
    assert len(base64.b64decode(generated.removeprefix("whsec_"))) == 32
    # gunicorn's master puts it in the environment its workers inherit: they all agree.
    inherited = Settings.from_env({**sandbox_env, "PORTONE_WEBHOOK_SECRET": generated}).portone
    assert inherited is not None and inherited.webhook_secrets == (generated,)


@pytest.mark.parametrize("value", ["not-a-secret", "whsec_", "whsec_c2hvcnQ=", f"{SECRET},x!"])
def test_a_malformed_secret_stops_the_service(sandbox, value):
    with pytest.raises(ConfigError, match="PORTONE_WEBHOOK_SECRET"):
        Settings.from_env(sandbox.env(PORTONE_WEBHOOK_SECRET=value))


def test_the_notice_url_goes_with_charges(sandbox):
    from billing_service.gateway.models import Charge
    from billing_service.gateway.portone_v2.payments import charge_body

    url = "https://billing.example.com/webhooks/portone"
    settings = Settings.from_env(sandbox.env(PORTONE_NOTICE_URL=url))
    assert settings.portone is not None and settings.portone.notice_url == url
    with pytest.raises(ConfigError, match="PORTONE_NOTICE_URL"):
        Settings.from_env(sandbox.env(PORTONE_NOTICE_URL="http://billing.example.com/x"))
    charge = Charge(customer_uid=UID, merchant_uid="m", amount=900, name="x")
    assert charge_body(charge, "billing-key-1", None, url)["noticeUrls"] == [url]
    assert "noticeUrls" not in charge_body(charge, "billing-key-1", None)


def test_the_operation_is_documented(app):
    spec = app.test_client().get("/openapi.json").get_json()
    for path in (WEBHOOKS, f"{WEBHOOKS}/{{token}}"):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == []
        assert operation["requestBody"]["content"]["application/json"]["example"]["type"]
        assert {p["name"] for p in operation["parameters"] if p["in"] == "header"} == {
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        }
        assert {"400", "403", "404", "503"} <= set(operation["responses"])


def test_make_run_v2_sandbox_webhooks_reach_the_service_and_verify():
    # gunicorn's master makes the secret, its workers verify with it, the sandbox signs with it
    # and posts to /webhooks/portone: an issuance's and a charge's webhooks are verified.
    service = LiveService({**SANDBOX_MODE, "BILLING_PROVIDER": V2})
    try:
        issued = requests.post(f"{service.url}/subscriptions/issue-billing", json=VALID_BODY)
        assert issued.status_code == 200
        body = {"customer_uid": UID, "merchant_uid": "live-1", "amount": 900, "name": "x"}
        paid = requests.post(f"{service.url}/subscriptions/payments", json=body, timeout=10)
        assert paid.status_code == 200
        service.wait_for('"outcome": "verified"', timeout=20)
        audits = [e for e in service.entries() if e.get("action") == "webhook"]
        assert audits and {a["status"] for a in audits} == {200}
        assert "ignored" in {a["outcome"] for a in audits}  # BillingKey.Issued
    finally:
        service.stop()
    assert CARD not in service.log()


def test_a_scheduled_payments_webhook_is_its_schedules_event(app, sandbox):
    # The V2 sandbox runs the schedule on its clock; its webhook (here signed by the test) makes
    # schedule.executed (needs the V2 schedules of issue 19's gateway work).
    issue(app)
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    item = {"merchant_uid": "sched-1", "amount": 900, "name": "x", "schedule_at": at}
    resp = app.test_client().post(
        "/subscriptions/schedules", json={"customer_uid": UID, "schedules": [item]}, headers=AUTH
    )
    assert resp.status_code == 200, resp.get_json()
    sandbox.admin("POST", "clock", advance="P2D")
    looked_up = app.test_client().get("/subscriptions/schedules/sched-1", headers=AUTH)
    executed = looked_up.get_json()["schedule"]
    assert executed["schedule_status"] == "executed"
    payment = {"merchant_uid": "sched-1", "imp_uid": executed["imp_uid"]}

    for _ in range(2):
        assert post(app, transaction("Paid", payment), webhook_id="msg_sched").status_code == 200

    assert events(app) == ["schedule.executed"]
