"""A caller's whole flow under each provider (issue 18's "done when"): the same calls give the
same shapes under I'mport V1 and PortOne V2; then what only PortOne V2 answers differently."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from billing_service import create_app
from billing_service.extensions import shared
from billing_service.sandbox import portone_v2

from ..support import CALLER_KEY, CORPORATE_CARD, V1, V2, VALID_BODY, Sandbox, known_cards_in, poll

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
UID = VALID_BODY["customer_uid"]
KEY_URL = f"/subscriptions/billing-keys/{UID}"
CHARGE = {"customer_uid": UID, "merchant_uid": "flow-1", "amount": 9900, "name": "월간 구독"}
DECLINED_CARD = "4000000000000341"  # declined, leaving a failed payment, in both sandboxes


def caller(sandbox: Sandbox):
    client = create_app(sandbox.env()).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"
    return client


def flow(client) -> list[tuple[str, int, Any]]:
    """What a caller does today: issue, look up, charge, look up (by imp_uid and by
    merchant_uid), cancel, delete, look up; each step's (name, status, body)."""
    answers: list[tuple[str, int, Any]] = []

    def step(name: str, resp) -> Any:
        answers.append((name, resp.status_code, resp.get_json()))
        return resp.get_json()

    step("issue", client.post(ISSUE, json={**VALID_BODY, "customer_name": "홍길동"}))
    step("key", client.get(KEY_URL))
    imp_uid = step("charge", client.post(CHARGES, json=CHARGE))["payment"]["imp_uid"]
    step("payment", client.get(f"{CHARGES}/{imp_uid}"))
    step("order", client.get(f"{CHARGES}/by-merchant-uid/{CHARGE['merchant_uid']}"))
    step("cancel", client.post(f"{CHARGES}/{imp_uid}/cancel", json={"reason": "고객 요청"}))
    step("delete", client.delete(KEY_URL, query_string={"reason": "회원 탈퇴"}))
    step("gone", client.get(KEY_URL))
    return answers


def shape(value: Any) -> Any:
    """Keys and types, recursively; None stands for "null or any type" (a field one provider
    may leave null that the other fills)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return None if value is None else type(value).__name__


def same_shape(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two shapes differ: a key on one side only, or two types (null matches any)."""
    if isinstance(a, dict) and isinstance(b, dict):
        differences = [f"{where}.{k}: only under one" for k in sorted(a.keys() ^ b.keys())]
        for key in sorted(a.keys() & b.keys()):
            differences += same_shape(a[key], b[key], f"{where}.{key}")
        return differences
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in same_shape(x, y, f"{where}[{i}]")
        ]
    if a is None or b is None or a == b:
        return []
    return [f"{where}: {a} against {b}"]


@pytest.fixture
def sandboxes(sandbox_server: Sandbox, v2_sandbox_server: Sandbox) -> dict[str, Sandbox]:
    for server in (sandbox_server, v2_sandbox_server):
        server.admin("POST", "reset")
    return {V1: sandbox_server, V2: v2_sandbox_server}


def test_a_callers_flow_gets_the_same_answers_under_both_providers(sandboxes):
    v1, v2 = flow(caller(sandboxes[V1])), flow(caller(sandboxes[V2]))

    assert [(name, status) for name, status, _ in v1] == [
        ("issue", 200),
        ("key", 200),
        ("charge", 200),
        ("payment", 200),
        ("order", 200),
        ("cancel", 200),
        ("delete", 200),
        ("gone", 404),
    ]
    assert [(name, status) for name, status, _ in v2] == [(n, s) for n, s, _ in v1]
    for (name, _, one), (_, _, other) in zip(v1, v2, strict=True):
        assert same_shape(shape(one), shape(other)) == [], name
    # The same statuses and error codes, step by step; and the provider named.
    for answers, provider in ((v1, V1), (v2, V2)):
        bodies = dict((name, body) for name, _, body in answers)
        assert bodies["gone"]["code"] == "billing_key_not_found"
        assert bodies["charge"]["payment"]["status"] == "paid"
        assert bodies["cancel"]["payment"]["status"] == "cancelled"
        assert bodies["issue"]["billing_key"]["provider"] == provider
        assert bodies["charge"]["payment"]["provider"] == provider
        assert (
            bodies["payment"]
            == bodies["order"]
            == {
                "status": "success",
                "payment": bodies["charge"]["payment"],
            }
        )
        assert not known_cards_in(repr(answers))


# --- What only PortOne V2 answers differently -------------------------------------------------


@pytest.fixture
def v2(v2_sandbox_server: Sandbox) -> Iterator[Any]:
    v2_sandbox_server.admin("POST", "reset")
    client = caller(v2_sandbox_server)
    consumer = shared(client.application).events.consumer
    consumer.start()  # the recorded jobs (gunicorn.conf.py starts it in each worker)
    yield client
    consumer.stop(5)


def v2_key(sandbox: Sandbox, path: str) -> dict:
    """A billing key or a payment as PortOne V2 (the sandbox) shows it."""
    resp = requests.get(
        f"{sandbox.url}{path}",
        params={"storeId": portone_v2.DEFAULT_STORE_ID},
        headers={"Authorization": f"PortOne {portone_v2.DEFAULT_API_SECRET}"},
        timeout=5,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_v2_reissuance_replaces_the_key_and_a_recorded_job_deletes_the_old_one(
    v2, v2_sandbox_server
):
    assert v2.post(ISSUE, json=VALID_BODY).get_json()["billing_key"]["replaced"] is False
    # The issuance reads its key back (its own deletion job reads it too, and finds nothing).
    first = v2_sandbox_server.calls("GET /billing-keys/{billingKey}")[0]

    again = v2.post(ISSUE, json={**VALID_BODY, "card_number": CORPORATE_CARD})

    assert again.status_code == 200
    key = again.get_json()["billing_key"]
    assert (key["replaced"], key["card_number"]) == (True, "555555******4444")
    assert poll(lambda: v2_sandbox_server.calls("DELETE /billing-keys/{billingKey}"), 10)
    [deleted] = v2_sandbox_server.calls("DELETE /billing-keys/{billingKey}")
    assert deleted["path"] == first["path"] and deleted["status"] == 200
    assert v2_key(v2_sandbox_server, first["path"])["status"] == "DELETED"
    # The new key is the one looked up and charged.
    assert v2.get(KEY_URL).get_json()["billing_key"]["card_number"] == "555555******4444"
    assert v2.post(CHARGES, json=CHARGE).get_json()["payment"]["card_number"].startswith("555555")


def test_notice_url_is_refused_under_v2(v2, v2_sandbox_server):
    assert v2.post(ISSUE, json=VALID_BODY).status_code == 200

    resp = v2.post(CHARGES, json={**CHARGE, "notice_url": "https://shop.example.com/hook"})

    assert resp.status_code == 422
    assert "notice_url" in resp.get_json()["errors"]
    assert v2_sandbox_server.count(v2_sandbox_server.route("charge")) == 0


def test_another_currency_than_krw_is_refused_under_v2(v2, v2_sandbox_server):
    assert v2.post(ISSUE, json=VALID_BODY).status_code == 200

    resp = v2.post(CHARGES, json={**CHARGE, "currency": "USD"})

    assert resp.status_code == 422
    assert "KRW" in str(resp.get_json())
    assert v2_sandbox_server.count(v2_sandbox_server.route("charge")) == 0


def test_a_v2_decline_is_402_with_the_pgs_code(v2):
    assert v2.post(ISSUE, json={**VALID_BODY, "card_number": DECLINED_CARD}).status_code == 200

    resp = v2.post(CHARGES, json=CHARGE)

    assert resp.status_code == 402
    body = resp.get_json()
    assert body["code"] == "card_declined"
    assert isinstance(body["pg_code"], str) and body["pg_code"]
    assert "gateway_code" not in body
    assert body["payment"]["status"] == "failed"
    assert body["payment"]["provider"] == V2


def test_a_v2_cancel_the_pg_takes_asynchronously_is_202_pending(v2, v2_sandbox_server):
    assert v2.post(ISSUE, json=VALID_BODY).status_code == 200
    imp_uid = v2.post(CHARGES, json=CHARGE).get_json()["payment"]["imp_uid"]
    v2_sandbox_server.admin("POST", "config", cancel_outcome="REQUESTED")

    refund = {"json": {"reason": "고객 요청"}, "headers": {"Idempotency-Key": "refund-1"}}

    resp = v2.post(f"{CHARGES}/{imp_uid}/cancel", **refund)

    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["status"] == "pending"
    assert resp.get_json()["payment"]["cancel_amount"] == 0
    # Still pending when retried; once the PG has done it, the retry is the cancelled payment.
    assert v2.post(f"{CHARGES}/{imp_uid}/cancel", **refund).status_code == 202
    [cancellation] = v2_key(v2_sandbox_server, f"/payments/{CHARGE['merchant_uid']}")[
        "cancellations"
    ]
    path = f"payments/{CHARGE['merchant_uid']}/cancellations/{cancellation['id']}/settle"
    v2_sandbox_server.admin("POST", path, status="SUCCEEDED")
    done = v2.post(f"{CHARGES}/{imp_uid}/cancel", **refund)
    assert done.status_code == 200
    assert (done.get_json()["payment"]["status"], done.get_json()["replayed"]) == (
        "cancelled",
        True,
    )
    # A retry resends the cancel under the same Idempotency-Key: PortOne replays it, once done.
    shown = v2_key(v2_sandbox_server, f"/payments/{CHARGE['merchant_uid']}")
    assert [c["status"] for c in shown["cancellations"]] == ["SUCCEEDED"]


def test_a_v2_service_that_lost_its_state_store_finds_the_ids_at_portone(v2, v2_sandbox_server):
    # Another replica with its own (empty) store: PortOne stays the source of truth.
    assert v2.post(ISSUE, json=VALID_BODY).status_code == 200
    paid = v2.post(CHARGES, json=CHARGE).get_json()["payment"]
    other = caller(v2_sandbox_server)

    assert other.get(KEY_URL).get_json()["billing_key"]["card_number"] == "424242******4242"
    assert other.get(f"{CHARGES}/{paid['imp_uid']}").get_json()["payment"] == paid
    cancelled = other.post(f"{CHARGES}/{paid['imp_uid']}/cancel", json={"reason": "환불"})
    assert cancelled.get_json()["payment"]["status"] == "cancelled"
    assert v2_sandbox_server.count("GET /billing-keys") >= 1  # searched for
    assert v2_sandbox_server.count("GET /payments") >= 1


def test_a_v2_cancel_named_by_a_declined_attempt_never_refunds_a_later_paid_one(v2):
    # Under V2 one paymentId holds both attempts; PortOne shows only the latest.
    assert v2.post(ISSUE, json={**VALID_BODY, "card_number": DECLINED_CARD}).status_code == 200
    failed = v2.post(CHARGES, json=CHARGE).get_json()["payment"]
    assert v2.post(ISSUE, json=VALID_BODY).status_code == 200
    paid = v2.post(CHARGES, json=CHARGE).get_json()["payment"]
    assert (failed["status"], paid["status"]) == ("failed", "paid")

    resp = v2.post(f"{CHARGES}/{failed['imp_uid']}/cancel", json={"reason": "환불"})

    assert resp.status_code == 409
    assert resp.get_json()["code"] == "nothing_to_cancel"
    assert v2.get(f"{CHARGES}/{failed['imp_uid']}").status_code == 404
    assert v2.get(f"{CHARGES}/{paid['imp_uid']}").get_json()["payment"]["cancel_amount"] == 0
