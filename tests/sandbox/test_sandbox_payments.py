"""Black-box tests of the sandbox's payment endpoints: again, lookups, cancel, charge faults."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any

import pytest
import requests

from billing_service.sandbox import SandboxServer, start_sandbox

from .helpers import (
    AGAIN,
    CUSTOMERS,
    DECLINING_CARD,
    DUPLICATE,
    NOT_FOUND,
    NOTHING_TO_CANCEL,
    REFUSING_CARD,
    UNKNOWN_BUYER,
    admin,
    bearer,
    cancel,
    charge,
    find,
    get_payment,
    issue,
    paid,
    token,
    trickled_answer,
    with_key,
)

EXISTING_MAGIC_CARDS = {
    "4000000000000002",
    "4000000000000010",
    "4000000000000028",
    "4000000000000036",
    "4000000000000044",
}
REFUSED = {
    "code": -1,
    "message": "결제승인에 실패하였습니다. [2116]개인 월 한도금액 초과",
    "response": None,
}
PAYMENT_FIELDS = {
    "amount",
    "apply_num",
    "bank_code",
    "bank_name",
    "buyer_addr",
    "buyer_email",
    "buyer_name",
    "buyer_postcode",
    "buyer_tel",
    "cancel_amount",
    "cancel_history",
    "cancel_reason",
    "cancel_receipt_urls",
    "cancelled_at",
    "card_code",
    "card_name",
    "card_number",
    "card_quota",
    "card_type",
    "cash_receipt_issued",
    "channel",
    "currency",
    "custom_data",
    "customer_uid",
    "customer_uid_usage",
    "emb_pg_provider",
    "escrow",
    "fail_reason",
    "failed_at",
    "imp_uid",
    "merchant_uid",
    "name",
    "paid_at",
    "pay_method",
    "pg_id",
    "pg_provider",
    "pg_tid",
    "receipt_url",
    "sandbox",
    "started_at",
    "status",
    "user_agent",
    "vbank_code",
    "vbank_date",
    "vbank_holder",
    "vbank_issued_at",
    "vbank_name",
    "vbank_num",
}


# --- helpers ---------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """An independent Luhn check (not the sandbox's own)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


# --- charge: success -------------------------------------------------------------------------


def test_paid_charge_returns_full_payment(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox, customer_name="홍길동")
    before = int(time.time())
    response = charge(
        http,
        sandbox,
        access_token,
        amount=50000,
        card_quota=3,
        buyer_name="김철수",
        custom_data='{"plan":"pro"}',
        notice_url="https://example.com/hook",
        tax_free=0,
        vat_amount=4545,
        unknown_extra="ignored",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["message"] is None
    payment = body["response"]
    assert set(payment) == PAYMENT_FIELDS
    assert list(payment) == sorted(payment)  # the live API sends keys alphabetically
    assert re.fullmatch(r"imps_\d{12}", payment["imp_uid"])
    assert re.fullmatch(r"\d{8}", payment["apply_num"])
    assert payment["pg_tid"].startswith("nictest04m")
    assert (
        payment["receipt_url"].startswith("https://")
        and payment["imp_uid"] in (payment["receipt_url"])
    )
    assert before <= payment["started_at"] == payment["paid_at"] <= time.time() + 1
    expected = {
        "merchant_uid": "order-1",
        "customer_uid": "cust",
        "pay_method": "card",
        "channel": "api",
        "pg_provider": "nice",
        "pg_id": "nictest04m",
        "sandbox": True,
        "escrow": False,
        "card_code": "367",
        "card_name": "현대카드",
        "card_number": "424242******4242",
        "card_type": 0,
        "card_quota": 3,
        "name": "월 구독",
        "amount": 50000,
        "cancel_amount": 0,
        "currency": "KRW",
        "buyer_name": "김철수",
        "custom_data": '{"plan":"pro"}',
        "customer_uid_usage": "payment",
        "status": "paid",
        "failed_at": 0,
        "cancelled_at": 0,
        "fail_reason": None,
        "cancel_reason": None,
        "cancel_history": [],
        "cancel_receipt_urls": [],
        "cash_receipt_issued": False,
        "user_agent": "sandbox",
        "emb_pg_provider": None,
        "bank_code": None,
        "bank_name": None,
        "vbank_code": None,
        "vbank_name": None,
        "vbank_num": None,
        "vbank_holder": None,
        "vbank_date": 0,
        "vbank_issued_at": 0,
    }
    assert {name: payment[name] for name in expected} == expected
    # The same object is what a later lookup answers.
    assert get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"] == (
        payment
    )


def test_charge_uses_the_keys_pg_and_card(sandbox: SandboxServer, http) -> None:
    access_token = with_key(
        http, sandbox, card_number="9410-0000-0000-0005", pg="html5_inicis.MIDX"
    )
    payment = paid(http, sandbox, access_token)
    assert (payment["pg_provider"], payment["pg_id"]) == ("html5_inicis", "MIDX")
    assert payment["card_number"] == "941000******0005"
    assert (payment["card_name"], payment["card_code"], payment["card_type"]) == (
        "신한카드",
        "366",
        None,
    )


def test_charge_accepts_form_encoding(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    form = {"customer_uid": "cust", "merchant_uid": "form-1", "amount": "1500", "name": "n"}
    form["card_quota"] = "2"
    response = http.post(f"{sandbox.url}{AGAIN}", data=form, headers=bearer(access_token))
    payment = response.json()["response"]
    assert (payment["amount"], payment["card_quota"], payment["status"]) == (1500, 2, "paid")


def test_buyer_fields_fall_back_to_the_keys_customer_fields(sandbox: SandboxServer, http) -> None:
    access_token = with_key(
        http,
        sandbox,
        customer_name="홍길동",
        customer_email="key@example.com",
        customer_tel="01000000000",
    )
    payment = paid(http, sandbox, access_token, buyer_email="sent@example.com", currency="USD")
    assert payment["buyer_email"] == "sent@example.com"  # sent wins
    assert payment["buyer_name"] == "홍길동"
    assert payment["buyer_tel"] == "01000000000"
    assert payment["buyer_addr"] is None and payment["buyer_postcode"] is None
    assert payment["currency"] == "USD"
    assert payment["card_quota"] == 0 and payment["custom_data"] is None


def test_object_custom_data_is_kept_as_json_text(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token, custom_data={"plan": "프로"})
    assert json.loads(payment["custom_data"]) == {"plan": "프로"}


def test_imp_uids_are_unique(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    uids = {paid(http, sandbox, access_token, merchant_uid=f"u-{i}")["imp_uid"] for i in range(20)}
    assert len(uids) == 20


# --- charge: validation and refusals ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"customer_uid": None}, "customer_uid"),
        ({"merchant_uid": None}, "merchant_uid"),
        ({"amount": None}, "amount"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"amount": "abc"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": -100}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": "1_000"}, "amount"),
        ({"card_quota": "x"}, "card_quota"),
        ({"card_quota": 1.5}, "card_quota"),
        ({"merchant_uid": "m" * 41}, "merchant_uid"),
        ({"customer_uid": "c" * 81}, "customer_uid"),
    ],
)
def test_charge_bad_params_are_400(sandbox: SandboxServer, http, fields, needle) -> None:
    access_token = with_key(http, sandbox)
    response = charge(http, sandbox, access_token, **fields)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == -1 and body["response"] is None
    assert needle in body["message"]
    assert find(http, sandbox, access_token, "order-1").status_code == 404  # nothing stored


def test_charge_unknown_customer(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    response = charge(http, sandbox, access_token, customer_uid="ghost")
    assert (response.status_code, response.json()) == (200, UNKNOWN_BUYER)
    assert find(http, sandbox, access_token, "order-1").status_code == 404


def test_magic_charge_cards_are_luhn_valid_and_new() -> None:
    for card in (DECLINING_CARD, REFUSING_CARD):
        digits = card.replace("-", "")
        assert luhn_ok(digits) and digits not in EXISTING_MAGIC_CARDS
    assert not luhn_ok("4000000000000342")  # the checker itself can fail


def test_declining_card_charge_is_code_0_failed_and_findable(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    for merchant_uid in ("d-1", "d-2"):  # every charge is declined, not only the first
        response = charge(http, sandbox, access_token, merchant_uid=merchant_uid)
        assert response.status_code == 200
        body = response.json()
        assert body["code"] == 0 and body["message"] is None
        payment = body["response"]
        assert set(payment) == PAYMENT_FIELDS
        assert payment["status"] == "failed"
        assert payment["fail_reason"] == "[8326]카드 한도초과"
        assert payment["paid_at"] == 0 and abs(payment["failed_at"] - time.time()) < 5
        assert payment["apply_num"] is None  # no approval number without an approval
        assert payment["card_number"] == "400000******0341"
        assert re.fullmatch(r"imps_\d{12}", payment["imp_uid"])
        found = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()
        assert found["response"] == payment
        by_status = find(http, sandbox, access_token, merchant_uid, "failed").json()
        assert by_status["response"]["imp_uid"] == payment["imp_uid"]


def test_refusing_card_charge_is_code_minus_1_and_not_stored(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    issued = issue(http, sandbox, "cust", access_token, card_number=REFUSING_CARD).json()
    normal = issue(http, sandbox, "other", access_token).json()
    assert issued["code"] == 0 and issued["response"]["card_number"] == "400000******9995"
    assert set(issued["response"]) == set(normal["response"])  # no behaviour flag leaks out
    response = charge(http, sandbox, access_token)
    assert (response.status_code, response.json()) == (200, REFUSED)
    assert find(http, sandbox, access_token, "order-1").status_code == 404
    assert "9995" not in json.dumps(admin(http, sandbox, "calls").json())


def test_issuance_flag_follows_the_latest_card(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    assert charge(http, sandbox, access_token, merchant_uid="a").json()["response"]["status"] == (
        "failed"
    )
    issue(http, sandbox, "cust", access_token)  # replaced by a normal card
    assert paid(http, sandbox, access_token, merchant_uid="b")["card_number"] == (
        "424242******4242"
    )


@pytest.mark.parametrize("cancel_first", [False, True])
def test_duplicate_merchant_uid_after_paid_or_cancelled(
    sandbox: SandboxServer, http, cancel_first: bool
) -> None:
    access_token = with_key(http, sandbox)
    first = paid(http, sandbox, access_token)
    if cancel_first:
        assert cancel(http, sandbox, access_token, imp_uid=first["imp_uid"]).json()["code"] == 0
    response = charge(http, sandbox, access_token, amount=999)
    assert (response.status_code, response.json()) == (200, DUPLICATE)
    assert (
        find(http, sandbox, access_token, "order-1").json()["response"]["imp_uid"]
        == (first["imp_uid"])
    )


def test_duplicate_check_comes_before_a_refusing_card(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    paid(http, sandbox, access_token)
    issue(http, sandbox, "cust", access_token, card_number=REFUSING_CARD)
    assert charge(http, sandbox, access_token).json() == DUPLICATE


def test_retry_allowed_after_failed_and_find_takes_latest(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    failed = charge(http, sandbox, access_token).json()["response"]
    assert failed["status"] == "failed"
    issue(http, sandbox, "cust", access_token)  # the customer registers a working card
    retried = paid(http, sandbox, access_token)
    assert retried["imp_uid"] != failed["imp_uid"]
    latest = find(http, sandbox, access_token, "order-1").json()["response"]
    assert latest["imp_uid"] == retried["imp_uid"]
    old = find(http, sandbox, access_token, "order-1", "failed").json()["response"]
    assert old["imp_uid"] == failed["imp_uid"]
    assert charge(http, sandbox, access_token).json() == DUPLICATE  # now it is taken


def test_concurrent_charges_of_one_merchant_uid_pay_once(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    codes: list[int] = []

    def attempt() -> None:
        with requests.Session() as session:
            codes.append(charge(session, sandbox, access_token).json()["code"])

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(codes) == [0] + [1] * 7


# --- charge faults (outcome unknown) ---------------------------------------------------------


def last_again_status(http: requests.Session, sb: SandboxServer) -> Any:
    calls = admin(http, sb, "calls").json()["calls"]
    return [call["status"] for call in calls if call["route"] == AGAIN][-1]


@pytest.mark.parametrize(("card", "status"), [(None, "paid"), (DECLINING_CARD, "failed")])
def test_fault_drop_stores_the_outcome_then_resets(
    sandbox: SandboxServer, http, card, status
) -> None:
    access_token = with_key(http, sandbox, card_number=card)
    with pytest.raises(requests.ConnectionError):
        charge(http, sandbox, access_token, merchant_uid="fault-drop-1")
    assert last_again_status(http, sandbox) is None
    payment = find(http, sandbox, access_token, "fault-drop-1").json()["response"]
    assert payment["status"] == status


def test_fault_drop_is_a_tcp_rst_after_the_whole_body(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    body = json.dumps(
        {"customer_uid": "cust", "merchant_uid": "fault-drop-raw", "amount": 1, "name": "n"}
    ).encode()
    head = (
        f"POST {AGAIN} HTTP/1.1\r\nHost: x\r\nAuthorization: {access_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)
    assert find(http, sandbox, access_token, "fault-drop-raw").json()["code"] == 0


def test_fault_ready_stores_a_ready_payment_then_resets(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox, card_number=REFUSING_CARD)  # the PG never answers
    with pytest.raises(requests.ConnectionError):
        charge(http, sandbox, access_token, merchant_uid="fault-ready-1")
    found = find(http, sandbox, access_token, "fault-ready-1", "ready")
    assert found.status_code == 200
    payment = found.json()["response"]
    assert payment["status"] == "ready"
    assert payment["paid_at"] == 0 and payment["failed_at"] == 0
    assert payment["fail_reason"] is None and payment["pg_tid"] is None
    assert payment["apply_num"] is None and payment["receipt_url"] is None
    assert get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"] == (
        payment
    )
    cancelled = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"])
    assert cancelled.json() == NOTHING_TO_CANCEL


def test_a_ready_payment_does_not_take_the_merchant_uid(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    imp_uids = set()
    for _ in range(2):  # the prefix faults on every attempt; each stores its own payment
        with pytest.raises(requests.ConnectionError):
            charge(http, sandbox, access_token, merchant_uid="fault-ready-2")
        latest = find(http, sandbox, access_token, "fault-ready-2").json()["response"]
        imp_uids.add(latest["imp_uid"])
    assert len(imp_uids) == 2


def test_fault_lost_resets_and_stores_nothing(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    with pytest.raises(requests.ConnectionError):
        charge(http, sandbox, access_token, merchant_uid="fault-lost-1")
    assert last_again_status(http, sandbox) is None
    assert find(http, sandbox, access_token, "fault-lost-1").status_code == 404
    # Checked before the customer: even an unknown one gets the reset.
    with pytest.raises(requests.ConnectionError):
        charge(http, sandbox, access_token, merchant_uid="fault-lost-2", customer_uid="ghost")


def test_fault_500_stores_nothing(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    response = charge(http, sandbox, access_token, merchant_uid="fault-500-1")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == -1 and body["response"] is None and body["message"]
    assert find(http, sandbox, access_token, "fault-500-1").status_code == 404


def test_fault_hang_answers_late_but_pays_at_once() -> None:
    with start_sandbox(hang_seconds=0.3) as server, requests.Session() as http:
        access_token = with_key(http, server)
        started = time.monotonic()
        response = charge(http, server, access_token, merchant_uid="fault-hang-1")
        assert time.monotonic() - started >= 0.3
        assert response.json()["response"]["status"] == "paid"
        # A caller that gives up does not know the outcome, but the payment already exists.
        with pytest.raises(requests.ReadTimeout):
            body = {"customer_uid": "cust", "merchant_uid": "fault-hang-2"}
            body |= {"amount": 500, "name": "n"}
            http.post(f"{server.url}{AGAIN}", json=body, headers=bearer(access_token), timeout=0.1)
        found = find(http, server, access_token, "fault-hang-2").json()["response"]
        assert found["status"] == "paid" and found["amount"] == 500


def test_fault_trickle_pays_at_once_and_answers_a_byte_at_a_time(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox)
    body = {"customer_uid": "cust", "merchant_uid": "fault-trickle-1", "amount": 500, "name": "n"}
    with trickled_answer(sandbox, AGAIN, body, access_token):
        # A caller that gives up does not know the outcome, but the payment already exists.
        found = find(http, sandbox, access_token, "fault-trickle-1").json()["response"]
        assert found["status"] == "paid" and found["amount"] == 500


def test_shutdown_cuts_a_hanging_charge_short_and_keeps_the_payment() -> None:
    server = start_sandbox(hang_seconds=30)
    outcome: list[BaseException] = []
    with requests.Session() as http:
        access_token = with_key(http, server)

        def hang() -> None:
            with requests.Session() as session:
                try:
                    charge(session, server, access_token, merchant_uid="fault-hang-x")
                except requests.RequestException as exc:
                    outcome.append(exc)

        thread = threading.Thread(target=hang)
        thread.start()
        deadline = time.monotonic() + 3
        while find(http, server, access_token, "fault-hang-x").status_code == 404:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    started = time.monotonic()
    server.shutdown()
    thread.join(3)
    assert time.monotonic() - started < 2 and not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], requests.ConnectionError)
    assert server.state.find_payment("fault-hang-x") is not None  # paid before the wait


# --- pending charges and settling them -------------------------------------------------------


def settle(http: requests.Session, sb: SandboxServer, imp_uid: str, status: Any) -> Any:
    return admin(http, sb, f"payments/{imp_uid}/settle", {"status": status})


def pending(http: requests.Session, sb: SandboxServer, access_token: str, **fields: Any) -> Any:
    response = charge(http, sb, access_token, **fields)
    body = response.json()
    assert response.status_code == 200 and body["code"] == 0, body
    assert body["response"]["status"] == "ready"
    return body["response"]


@pytest.mark.parametrize("card", [None, DECLINING_CARD, REFUSING_CARD])
def test_pending_charge_is_answered_with_a_ready_payment(
    sandbox: SandboxServer, http, card
) -> None:
    access_token = with_key(http, sandbox, card_number=card)  # the PG has not answered yet
    payment = pending(http, sandbox, access_token, merchant_uid="pending-1")
    assert set(payment) == PAYMENT_FIELDS
    assert payment["paid_at"] == 0 and payment["failed_at"] == 0
    assert payment["fail_reason"] is None and payment["pg_tid"] is None
    assert payment["apply_num"] is None and payment["receipt_url"] is None
    assert find(http, sandbox, access_token, "pending-1", "ready").json()["response"] == payment
    assert last_again_status(http, sandbox) == 200


def test_pending_charge_runs_the_customer_and_duplicate_checks(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox)
    unknown = charge(http, sandbox, access_token, merchant_uid="pending-1", customer_uid="ghost")
    assert (unknown.status_code, unknown.json()) == (200, UNKNOWN_BUYER)
    first = pending(http, sandbox, access_token, merchant_uid="pending-1")
    assert settle(http, sandbox, first["imp_uid"], "paid").status_code == 200
    # Settled `paid`, the merchant_uid is taken like that of any paid payment.
    duplicate = charge(http, sandbox, access_token, merchant_uid="pending-1")
    assert (duplicate.status_code, duplicate.json()) == (200, DUPLICATE)


def test_a_pending_merchant_uid_may_be_charged_again_once_failed(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox)
    first = pending(http, sandbox, access_token, merchant_uid="pending-2")
    # Ready does not take the merchant_uid either: a second attempt is a new payment.
    second = pending(http, sandbox, access_token, merchant_uid="pending-2")
    assert second["imp_uid"] != first["imp_uid"]
    settle(http, sandbox, first["imp_uid"], "failed")
    settle(http, sandbox, second["imp_uid"], "failed")
    third = pending(http, sandbox, access_token, merchant_uid="pending-2")
    assert third["imp_uid"] not in (first["imp_uid"], second["imp_uid"])


def test_settle_paid_gives_the_ready_payment_what_a_paid_one_has(
    sandbox: SandboxServer, http
) -> None:
    access_token = with_key(http, sandbox)
    ready = pending(http, sandbox, access_token, merchant_uid="pending-3", amount=700)
    now = admin(http, sandbox, "clock", {"advance": 100}).json()["now"]
    response = settle(http, sandbox, ready["imp_uid"], "paid")
    assert response.status_code == 200
    settled = response.json()  # plain JSON: the payment itself, no envelope
    assert settled["status"] == "paid"
    assert now <= settled["paid_at"] <= now + 5  # the sandbox clock
    assert settled["started_at"] == ready["started_at"] and settled["failed_at"] == 0
    assert re.fullmatch(r"\d{8}", settled["apply_num"])
    assert settled["pg_tid"].startswith(settled["pg_id"])
    assert settled["receipt_url"] == f"https://receipt.sandbox.invalid/payments/{ready['imp_uid']}"
    assert settled["fail_reason"] is None
    changed = {"pg_tid", "apply_num", "receipt_url", "paid_at", "status"}
    assert {k: v for k, v in settled.items() if k not in changed} == {
        k: v for k, v in ready.items() if k not in changed
    }
    found = get_payment(http, sandbox, access_token, ready["imp_uid"]).json()["response"]
    assert found == settled
    cancelled = cancel(http, sandbox, access_token, imp_uid=ready["imp_uid"]).json()
    assert cancelled["code"] == 0 and cancelled["response"]["cancel_amount"] == 700


def test_settle_failed_makes_the_ready_payment_declined(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    ready = pending(http, sandbox, access_token, merchant_uid="pending-4")
    response = settle(http, sandbox, ready["imp_uid"], "failed")
    assert response.status_code == 200
    settled = response.json()
    assert settled["status"] == "failed"
    assert settled["fail_reason"] == "[8326]카드 한도초과"
    assert settled["failed_at"] >= ready["started_at"] and settled["paid_at"] == 0
    assert settled["apply_num"] is None
    assert settled["pg_tid"] and settled["receipt_url"]
    assert find(http, sandbox, access_token, "pending-4", "failed").json()["response"] == settled
    refused = cancel(http, sandbox, access_token, imp_uid=ready["imp_uid"])
    assert refused.json() == NOTHING_TO_CANCEL


@pytest.mark.parametrize("status", ["cancelled", "ready", "PAID", None, 1, ["paid"]])
def test_settle_with_a_bad_status_is_400_and_changes_nothing(
    sandbox: SandboxServer, http, status
) -> None:
    access_token = with_key(http, sandbox)
    ready = pending(http, sandbox, access_token, merchant_uid="pending-5")
    response = settle(http, sandbox, ready["imp_uid"], status)
    assert response.status_code == 400 and response.json()["error"]
    assert get_payment(http, sandbox, access_token, ready["imp_uid"]).json()["response"] == ready


def test_only_a_ready_payment_can_be_settled(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    for status in ("paid", "failed"):
        response = settle(http, sandbox, payment["imp_uid"], status)
        assert response.status_code == 400 and "paid" in response.json()["error"]
    ready = pending(http, sandbox, access_token, merchant_uid="pending-6")
    settle(http, sandbox, ready["imp_uid"], "failed")
    assert settle(http, sandbox, ready["imp_uid"], "paid").status_code == 400
    found = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"]
    assert found == payment


def test_settle_an_unknown_imp_uid_is_404(sandbox: SandboxServer, http) -> None:
    response = settle(http, sandbox, "imps_000000000000", "paid")
    assert response.status_code == 404 and response.json()["error"]


# --- lookups ---------------------------------------------------------------------------------


def test_get_unknown_imp_uid_is_404(sandbox: SandboxServer, http) -> None:
    response = get_payment(http, sandbox, token(http, sandbox), "imps_000000000000")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_get_accepts_include_sandbox(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    for value in ("true", "false"):
        response = get_payment(
            http, sandbox, access_token, payment["imp_uid"], include_sandbox=value
        )
        assert response.json()["response"] == payment


def test_find_with_and_without_status(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    assert find(http, sandbox, access_token, "order-1").json()["response"] == payment
    assert find(http, sandbox, access_token, "order-1", "paid").json()["response"] == payment
    for status in ("failed", "ready", "cancelled"):
        response = find(http, sandbox, access_token, "order-1", status)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    unknown = find(http, sandbox, access_token, "nope")
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    bad = find(http, sandbox, access_token, "order-1", "done")
    assert bad.status_code == 400 and bad.json()["code"] == -1


def test_find_decodes_the_merchant_uid(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token, merchant_uid="주문/1 a")
    response = find(http, sandbox, access_token, "%EC%A3%BC%EB%AC%B8%2F1%20a")
    assert response.json()["response"]["imp_uid"] == payment["imp_uid"]


def test_payments_outlive_their_billing_key(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    deleted = http.delete(f"{sandbox.url}{CUSTOMERS}cust", headers=bearer(access_token))
    assert deleted.json()["code"] == 0
    assert get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"] == (
        payment
    )
    assert charge(http, sandbox, access_token, merchant_uid="after").json() == UNKNOWN_BUYER


def test_payment_routes_need_a_token(sandbox: SandboxServer, http) -> None:
    token(http, sandbox)
    for method, path in [
        ("POST", AGAIN),
        ("GET", "/payments/imps_000000000000"),
        ("GET", "/payments/find/order-1"),
        ("GET", "/payments/find/order-1/paid"),
        ("POST", "/payments/cancel"),
    ]:
        response = http.request(method, f"{sandbox.url}{path}", json={}, timeout=5)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == "iamport"


def test_call_log_names_payment_routes_without_amounts(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token, amount=7654321, custom_data="secret-ish")
    get_payment(http, sandbox, access_token, payment["imp_uid"])
    find(http, sandbox, access_token, "order-1")
    find(http, sandbox, access_token, "order-1", "paid")
    cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"], amount=1234567)
    log = admin(http, sandbox, "calls").json()
    assert {
        "POST /subscribe/payments/again": 1,
        "GET /payments/{imp_uid}": 1,
        "GET /payments/find/{merchant_uid}": 1,
        "GET /payments/find/{merchant_uid}/{payment_status}": 1,
        "POST /payments/cancel": 1,
    }.items() <= log["counts"].items()
    dumped = json.dumps(log)
    assert "7654321" not in dumped and "1234567" not in dumped and "secret-ish" not in dumped


def test_reset_clears_payments(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    admin(http, sandbox, "reset")
    access_token = token(http, sandbox)
    assert get_payment(http, sandbox, access_token, payment["imp_uid"]).status_code == 404
    assert find(http, sandbox, access_token, "order-1").status_code == 404


# --- cancel ----------------------------------------------------------------------------------


def test_full_cancel(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    response = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"], reason="환불")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["message"] is None
    cancelled = body["response"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_amount"] == 10000 and cancelled["amount"] == 10000
    assert abs(cancelled["cancelled_at"] - time.time()) < 5
    assert cancelled["cancel_reason"] == "환불"
    assert cancelled["paid_at"] == payment["paid_at"]  # the payment did happen
    (entry,) = cancelled["cancel_history"]
    assert set(entry) == {
        "pg_tid",
        "amount",
        "cancelled_at",
        "reason",
        "cancellation_id",
        "receipt_url",
    }
    assert (entry["amount"], entry["reason"], entry["pg_tid"]) == (
        10000,
        "환불",
        payment["pg_tid"],
    )
    assert entry["cancelled_at"] == cancelled["cancelled_at"]
    assert entry["receipt_url"].startswith("https://") and entry["cancellation_id"]
    assert cancelled["cancel_receipt_urls"] == [entry["receipt_url"]]
    assert get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"] == (
        cancelled
    )
    assert find(http, sandbox, access_token, "order-1", "cancelled").json()["code"] == 0
    again = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"])
    assert (again.status_code, again.json()) == (200, NOTHING_TO_CANCEL)


def test_partial_cancels_then_the_rest(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    first = cancel(
        http,
        sandbox,
        access_token,
        imp_uid=payment["imp_uid"],
        amount=3000,
        checksum=10000,
        reason="부분",
    ).json()
    assert first["code"] == 0
    partial = first["response"]
    assert partial["status"] == "paid"  # partial cancels keep `paid`
    assert partial["cancel_amount"] == 3000 and partial["cancel_reason"] == "부분"
    assert len(partial["cancel_history"]) == 1
    rest = cancel(http, sandbox, access_token, merchant_uid="order-1", checksum=7000).json()
    assert rest["code"] == 0
    cancelled = rest["response"]
    assert cancelled["status"] == "cancelled" and cancelled["cancel_amount"] == 10000
    assert [entry["amount"] for entry in cancelled["cancel_history"]] == [3000, 7000]
    ids = {entry["cancellation_id"] for entry in cancelled["cancel_history"]}
    assert len(ids) == 2 and len(cancelled["cancel_receipt_urls"]) == 2
    assert cancelled["cancel_reason"] is None  # the latest cancel sent no reason


def test_cancel_accepts_form_encoding(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    form = {"imp_uid": payment["imp_uid"], "amount": "2500", "reason": "form"}
    response = http.post(
        f"{sandbox.url}/payments/cancel", data=form, headers=bearer(access_token), timeout=5
    )
    assert response.json()["response"]["cancel_amount"] == 2500


@pytest.mark.parametrize(
    ("fields", "needle"),
    [({"amount": 10001}, "취소가능금액"), ({"checksum": 9999}, "checksum")],
)
def test_cancel_refusals_change_nothing(sandbox: SandboxServer, http, fields, needle) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    response = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"], **fields)
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 1 and body["response"] is None and needle in body["message"]
    assert get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"] == (
        payment
    )


def test_cancel_over_the_remaining_balance_after_a_partial(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"], amount=6000)
    response = cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"], amount=5000)
    assert response.json()["code"] == 1
    after = get_payment(http, sandbox, access_token, payment["imp_uid"]).json()["response"]
    assert after["cancel_amount"] == 6000 and after["status"] == "paid"


@pytest.mark.parametrize(
    "fields",
    [
        {"imp_uid": "imps_000000000000"},
        {"merchant_uid": "nobody"},
        {"imp_uid": "imps_000000000000", "merchant_uid": "order-1"},  # imp_uid wins
    ],
)
def test_cancel_unknown_payment(sandbox: SandboxServer, http, fields) -> None:
    access_token = with_key(http, sandbox)
    paid(http, sandbox, access_token)
    response = cancel(http, sandbox, access_token, **fields)
    assert (response.status_code, response.json()) == (200, NOTHING_TO_CANCEL)
    assert find(http, sandbox, access_token, "order-1").json()["response"]["status"] == "paid"


def test_cancel_a_failed_payment(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    failed = charge(http, sandbox, access_token).json()["response"]
    for fields in ({"imp_uid": failed["imp_uid"]}, {"merchant_uid": "order-1"}):
        assert cancel(http, sandbox, access_token, **fields).json() == NOTHING_TO_CANCEL


@pytest.mark.parametrize(
    "fields",
    [{}, {"imp_uid": ""}, {"imp_uid": "x", "amount": "abc"}, {"imp_uid": "x", "amount": -1}],
)
def test_cancel_bad_params_are_400(sandbox: SandboxServer, http, fields) -> None:
    response = cancel(http, sandbox, token(http, sandbox), **fields)
    assert response.status_code == 400
    assert response.json()["code"] == -1 and response.json()["response"] is None
