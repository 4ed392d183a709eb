"""Ownership (OWASP API1): a caller with ``prefix=shop_`` touches only customers named shop_…,
and ``If-None-Match: *`` never replaces a key."""

from __future__ import annotations

import pytest

from billing_service import create_app
from billing_service.api import locks

from ..support import V1, VALID_BODY

pytestmark = pytest.mark.both_providers

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
KEYS = "/subscriptions/billing-keys"
SHOP, ADMIN = "shop-secret", "admin-secret"


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def client(sandbox):
    callers = f"shop:{SHOP}:issue+read+charge+cancel+delete:prefix=shop_,admin:{ADMIN}"
    return create_app(sandbox.env(BILLING_API_KEYS=callers)).test_client()


@pytest.fixture
def others_payment(client) -> str:
    """A key and a payment of other_0001, made by the unrestricted caller."""
    body = {**VALID_BODY, "customer_uid": "other_0001"}
    assert client.post(ISSUE, json=body, headers=auth(ADMIN)).status_code == 200
    charge = {"customer_uid": "other_0001", "merchant_uid": "o-1", "amount": 1000, "name": "x"}
    resp = client.post(CHARGES, json=charge, headers=auth(ADMIN))
    assert resp.status_code == 200
    imp_uid: str = resp.get_json()["payment"]["imp_uid"]
    return imp_uid


def test_an_issuance_outside_the_prefix_is_403_with_nothing_sent(client, sandbox):
    resp = client.post(ISSUE, json={**VALID_BODY, "customer_uid": "other_1"}, headers=auth(SHOP))

    assert resp.status_code == 403
    assert resp.get_json()["code"] == "forbidden"
    assert sandbox.count(sandbox.route("issue")) == 0
    inside = client.post(ISSUE, json={**VALID_BODY, "customer_uid": "shop_1"}, headers=auth(SHOP))
    assert inside.status_code == 200


def test_others_keys_look_absent_and_are_never_asked_about(client, sandbox, others_payment):
    before = sandbox.counts()

    read = client.get(f"{KEYS}/other_0001", headers=auth(SHOP))
    delete = client.delete(f"{KEYS}/other_0001", headers=auth(SHOP))
    charge = {"customer_uid": "other_0001", "merchant_uid": "o-2", "amount": 1000, "name": "x"}
    charged = client.post(CHARGES, json=charge, headers=auth(SHOP))

    for resp in (read, delete, charged):
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "billing_key_not_found"
    assert sandbox.counts() == before  # no I'mport call at all
    assert client.get(f"{KEYS}/other_0001", headers=auth(ADMIN)).status_code == 200


def test_others_payments_look_absent_and_cannot_be_cancelled(client, sandbox, others_payment):
    read = client.get(f"{CHARGES}/{others_payment}", headers=auth(SHOP))
    by_order = client.get(f"{CHARGES}/by-merchant-uid/o-1", headers=auth(SHOP))
    cancel = client.post(
        f"{CHARGES}/{others_payment}/cancel", json={"reason": "mine now"}, headers=auth(SHOP)
    )

    for resp in (read, by_order, cancel):
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "payment_not_found"
    assert sandbox.count(sandbox.route("cancel")) == 0
    payment = client.get(f"{CHARGES}/{others_payment}", headers=auth(ADMIN)).get_json()
    assert payment["payment"]["cancel_amount"] == 0


def test_a_payment_can_be_looked_up_by_merchant_uid(client, others_payment):
    resp = client.get(f"{CHARGES}/by-merchant-uid/o-1", headers=auth(ADMIN))

    assert resp.status_code == 200
    assert resp.get_json()["payment"]["imp_uid"] == others_payment
    missing = client.get(f"{CHARGES}/by-merchant-uid/never-used", headers=auth(ADMIN))
    assert (missing.status_code, missing.get_json()["code"]) == (404, "payment_not_found")


def test_if_none_match_star_never_replaces_a_key(client, sandbox):
    headers = {**auth(ADMIN), "If-None-Match": "*"}
    first = client.post(ISSUE, json=VALID_BODY, headers=headers)
    assert first.status_code == 200 and first.get_json()["billing_key"]["replaced"] is False

    other_card = {**VALID_BODY, "card_number": "5555555555554444"}
    refused = client.post(ISSUE, json=other_card, headers=headers)

    assert refused.status_code == 412
    assert refused.get_json()["code"] == "billing_key_exists"
    assert sandbox.count(sandbox.route("issue")) == 1
    key = client.get(f"{KEYS}/{VALID_BODY['customer_uid']}", headers=auth(ADMIN)).get_json()
    assert key["billing_key"]["card_number"] == "424242******4242"  # still the first card
    # Without the header, reuse replaces the key, as I'mport does.
    replaced = client.post(ISSUE, json=other_card, headers=auth(ADMIN))
    assert replaced.status_code == 200
    assert replaced.get_json()["billing_key"]["card_number"] == "555555******4444"
    assert sandbox.count(sandbox.route("issue")) == 2


def test_if_none_match_takes_only_a_star(client, sandbox):
    resp = client.post(ISSUE, json=VALID_BODY, headers={**auth(ADMIN), "If-None-Match": '"v1"'})

    assert resp.status_code == 400
    assert resp.get_json()["code"] == "bad_request"
    assert sandbox.count(sandbox.route("issue")) == 0


DECLINING_CARD = "4000-0000-0000-0341"  # the sandbox declines its key's charges (code 0, failed)


def others_order(client, merchant_uid: str, card: str = VALID_BODY["card_number"]) -> dict:
    """A charge of other_0002 by the unrestricted caller, whatever its answer; its payment."""
    body = {**VALID_BODY, "customer_uid": "other_0002", "card_number": card}
    assert client.post(ISSUE, json=body, headers=auth(ADMIN)).status_code == 200
    charge = {"customer_uid": "other_0002", "merchant_uid": merchant_uid, "amount": 500}
    client.post(CHARGES, json={**charge, "name": "x"}, headers=auth(ADMIN))
    resp = client.get(f"{CHARGES}/by-merchant-uid/{merchant_uid}", headers=auth(ADMIN))
    payment: dict = resp.get_json()["payment"]
    return payment


def test_a_charge_never_shows_another_callers_pending_order(client, sandbox):
    theirs = others_order(client, "pending-their-order")
    assert theirs["status"] == "ready"

    # shop_nokey is the shop's own customer, without a billing key.
    charge = {"customer_uid": "shop_nokey", "merchant_uid": "pending-their-order"}
    resp = client.post(CHARGES, json={**charge, "amount": 500, "name": "x"}, headers=auth(SHOP))

    assert resp.status_code == 404
    assert resp.get_json()["code"] == "billing_key_not_found"
    assert theirs["imp_uid"] not in resp.get_data(as_text=True)
    assert "other_0002" not in resp.get_data(as_text=True)


def test_a_lost_charge_is_never_reconciled_from_another_callers_order(client, sandbox):
    theirs = others_order(client, "fault-drop-their-order", card=DECLINING_CARD)
    assert theirs["status"] == "failed"

    charge = {"customer_uid": "shop_nokey", "merchant_uid": "fault-drop-their-order"}
    resp = client.post(CHARGES, json={**charge, "amount": 500, "name": "x"}, headers=auth(SHOP))

    assert theirs["imp_uid"] not in resp.get_data(as_text=True)
    if sandbox.provider == V1:
        # As if their payment did not exist: sent, answer lost, nothing found.
        assert resp.status_code == 504
        assert resp.get_json()["retryable"] is True
        assert "payment" not in resp.get_json()
    else:  # V2 finds no billingKey behind shop_nokey: nothing is sent
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "billing_key_not_found"
        # With a key, the paymentId's latest attempt is the shop's own, answered as such.
        body = {**VALID_BODY, "customer_uid": "shop_nokey"}
        assert client.post(ISSUE, json=body, headers=auth(SHOP)).status_code == 200
        resp = client.post(CHARGES, json={**charge, "amount": 500, "name": "x"}, headers=auth(SHOP))
        assert resp.status_code == 200 and resp.get_json()["reconciled"] is True
        assert resp.get_json()["payment"]["customer_uid"] == "shop_nokey"
        assert theirs["imp_uid"] not in resp.get_data(as_text=True)


def test_a_cancel_of_anothers_payment_is_404_even_while_a_cancel_of_it_runs(
    client, sandbox, others_payment
):
    with client.application.app_context(), locks.held(locks.payment(others_payment)):
        resp = client.post(
            f"{CHARGES}/{others_payment}/cancel", json={"reason": "x"}, headers=auth(SHOP)
        )

    # Not 409 request_in_progress: that would tell the payment exists and is being cancelled.
    assert resp.status_code == 404
    assert resp.get_json()["code"] == "payment_not_found"
    assert sandbox.count(sandbox.route("cancel")) == 0


def test_an_order_left_pending_is_looked_up_not_sent_again_whoever_retries(client, sandbox):
    body = {**VALID_BODY, "customer_uid": "shop_0001"}
    assert client.post(ISSUE, json=body, headers=auth(SHOP)).status_code == 200
    charge = {"customer_uid": "shop_0001", "merchant_uid": "pending-shared", "amount": 500}
    first = client.post(CHARGES, json={**charge, "name": "x"}, headers=auth(SHOP))
    assert first.status_code == 202

    # The same order, retried by another caller allowed to charge this customer.
    again = client.post(CHARGES, json={**charge, "name": "x"}, headers=auth(ADMIN))

    assert again.status_code == 202
    assert again.get_json()["payment"]["imp_uid"] == first.get_json()["payment"]["imp_uid"]
    assert sandbox.count(sandbox.route("charge")) == 1
