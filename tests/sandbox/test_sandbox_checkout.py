"""Black-box tests of the sandbox's payment-window payments (`/__sandbox__/payments/checkout`):
not a billing key's charge, and free to land on a merchant_uid a failed charge used."""

from __future__ import annotations

from typing import Any

import pytest

from billing_service.sandbox import SandboxServer

from .helpers import DECLINING_CARD, DUPLICATE, admin, charge, find, get_payment, with_key

NOWHERE = "http://127.0.0.1:9/notices"  # refused at once: the attempt is still recorded
CHECKOUT = "payments/checkout"


def checkout(http, sb: SandboxServer, **fields: Any) -> Any:
    response = admin(http, sb, CHECKOUT, {"amount": 10000, "notice_url": NOWHERE, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_window_payment_may_take_a_failed_charges_merchant_uid(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    declined = charge(http, sandbox, access_token, merchant_uid="order-1").json()["response"]
    assert declined["status"] == "failed"

    payment = checkout(http, sandbox, merchant_uid="order-1", name="단건 결제")

    assert payment["imp_uid"] != declined["imp_uid"]
    assert (payment["status"], payment["channel"], payment["sandbox"]) == ("paid", "pc", True)
    assert (payment["customer_uid"], payment["customer_uid_usage"]) == (None, None)
    assert (payment["amount"], payment["name"], payment["card_number"]) == (
        10000,
        "단건 결제",
        "411111******1111",
    )
    assert payment["paid_at"] > 0 and payment["apply_num"]
    looked_up = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"]
    assert looked_up == payment == find(http, sandbox, access_token, "order-1").json()["response"]
    # Paid, the merchant_uid is taken: by the window and by `again` alike.
    taken = admin(http, sandbox, CHECKOUT, {"merchant_uid": "order-1", "amount": 100})
    assert (taken.status_code, taken.json()["error"]) == (409, DUPLICATE["message"])
    assert charge(http, sandbox, access_token, merchant_uid="order-1").json() == DUPLICATE
    # Notified like any approval.
    record = admin(http, sandbox, "notices/wait", {"count": 1}).json()["notices"]
    assert [(n["url"], n["body"]) for n in record] == [
        (NOWHERE, {"imp_uid": payment["imp_uid"], "merchant_uid": "order-1", "status": "paid"})
    ]


def test_a_window_payment_with_a_customer_uid_is_the_keys_issue(
    sandbox: SandboxServer, http
) -> None:
    payment = checkout(http, sandbox, merchant_uid="order-2", customer_uid="gildong_0001")

    assert (payment["customer_uid"], payment["customer_uid_usage"]) == ("gildong_0001", "issue")


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 100},
        {"merchant_uid": "x" * 41, "amount": 100},
        {"merchant_uid": "o", "amount": 0},
        {"merchant_uid": "o", "amount": "100"},
        {"merchant_uid": "o", "amount": 100, "customer_uid": ""},
        {"merchant_uid": "o", "amount": 100, "notice_url": "ftp://x"},
        {"merchant_uid": "o", "amount": 100, "card_number": "4111111111111111"},
    ],
)
def test_a_bad_window_payment_is_refused_and_stores_nothing(
    sandbox: SandboxServer, http, body: dict[str, Any]
) -> None:
    response = admin(http, sandbox, CHECKOUT, body)

    assert response.status_code == 400 and response.json()["error"]
    access_token = with_key(http, sandbox)
    assert find(http, sandbox, access_token, "o").status_code == 404
