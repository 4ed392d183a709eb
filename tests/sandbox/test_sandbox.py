"""Black-box tests of the I'mport sandbox over real loopback HTTP (no mocks)."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from billing_service.sandbox import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SandboxServer,
    start_sandbox,
)
from billing_service.sandbox.__main__ import _parse_args

from .helpers import (
    CUSTOMERS,
    VALID_CARD,
    admin,
    bearer,
    issue,
    lookup,
    token,
    token_call,
    trickled_answer,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ISSUE_FAILED = "카드정보 인증 및 빌키 발급에 실패하였습니다. "
MAGIC_REFUSED = "4000-0000-0000-0002"
MAGIC_500 = "4000-0000-0000-0010"
MAGIC_HANG = "4000-0000-0000-0028"
MAGIC_HTML = "4000-0000-0000-0036"
MAGIC_RESET = "4000-0000-0000-0044"
MAGIC_TRICKLE = "4000-0000-0000-0051"


# --- helpers ---------------------------------------------------------------------------------


def kst_month(offset_months: int = 0) -> str:
    kst = time.gmtime(time.time() + 9 * 3600)
    index = kst.tm_year * 12 + kst.tm_mon - 1 + offset_months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- getToken --------------------------------------------------------------------------------


def test_get_token_issues_40_hex_token_for_30_minutes(sandbox: SandboxServer, http) -> None:
    response = token_call(http, sandbox)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert body["code"] == 0 and body["message"] is None
    assert re.fullmatch(r"[0-9a-f]{40}", body["response"]["access_token"])
    assert body["response"]["expired_at"] - body["response"]["now"] == 1800
    assert abs(body["response"]["now"] - time.time()) < 5


def test_get_token_accepts_form_encoding(sandbox: SandboxServer, http) -> None:
    form = {"imp_key": DEFAULT_API_KEY, "imp_secret": DEFAULT_API_SECRET}
    response = http.post(f"{sandbox.url}/users/getToken", data=form, timeout=5)
    assert response.status_code == 200 and response.json()["code"] == 0


def test_repeat_get_token_reuses_token_and_expiry(sandbox: SandboxServer, http) -> None:
    first = token_call(http, sandbox).json()["response"]
    admin(http, sandbox, "clock", {"advance": 100})
    second = token_call(http, sandbox).json()["response"]
    assert second["access_token"] == first["access_token"]
    assert second["expired_at"] == first["expired_at"]
    assert second["now"] >= first["now"] + 100


@pytest.mark.parametrize(("advance", "extended"), [(1739, False), (1740, True), (1790, True)])
def test_repeat_get_token_in_last_minute_extends_by_5_minutes(
    sandbox: SandboxServer, http, advance: int, extended: bool
) -> None:
    first = token_call(http, sandbox).json()["response"]
    # `now` is an integer second: advance relative to the first answer, not to wall time.
    drift = time.time() - first["now"]
    admin(http, sandbox, "clock", {"advance": advance - drift + 0.5})
    second = token_call(http, sandbox).json()["response"]
    assert second["access_token"] == first["access_token"]
    assert second["now"] - first["now"] == advance
    expected = first["expired_at"] + (300 if extended else 0)
    assert second["expired_at"] == expected


def test_expired_token_is_replaced_and_rejected(sandbox: SandboxServer, http) -> None:
    old = token(http, sandbox)
    admin(http, sandbox, "clock", {"advance": 1801})
    fresh = token_call(http, sandbox).json()["response"]
    assert fresh["access_token"] != old
    assert fresh["expired_at"] - fresh["now"] == 1800
    assert lookup(http, sandbox, "c", old).status_code == 401
    assert lookup(http, sandbox, "c", fresh["access_token"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{}, {"imp_key": DEFAULT_API_KEY}, {"imp_secret": DEFAULT_API_SECRET}, {"imp_key": ""}],
)
def test_get_token_missing_params_is_400(sandbox: SandboxServer, http, body) -> None:
    response = http.post(f"{sandbox.url}/users/getToken", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json() == {
        "code": -1,
        "message": "imp_key, imp_secret 파라메터가 누락되었습니다.",
        "response": None,
    }


def test_get_token_wrong_credentials_is_401(sandbox: SandboxServer, http) -> None:
    response = token_call(http, sandbox, imp_key=DEFAULT_API_KEY, imp_secret="wrong")
    assert response.status_code == 401
    assert response.json() == {
        "code": -1,
        "message": "imp_key, imp_secret 인증에 실패하였습니다.",
        "response": None,
    }


def test_concurrent_cold_get_token_calls_share_one_token(sandbox: SandboxServer, http) -> None:
    admin(http, sandbox, "config", {"token_latency_ms": 200})
    tokens: list[str] = []

    def fetch() -> None:
        with requests.Session() as session:
            tokens.append(token(session, sandbox))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    elapsed = time.monotonic() - started
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert 0.2 <= elapsed < 1.2  # the delays overlap: the lock is not held while waiting


# --- token transport and 401 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_headers", "scheme"),
    [
        (lambda t: {"Authorization": f"Bearer {t}"}, "bearer"),
        (lambda t: {"Authorization": t}, "raw"),
        (lambda t: {"X-ImpTokenHeader": t}, "x-imptokenheader"),
    ],
)
def test_token_header_forms(sandbox: SandboxServer, http, make_headers, scheme) -> None:
    access_token = token(http, sandbox)
    url = f"{sandbox.url}{CUSTOMERS}nobody"
    response = http.get(url, headers=make_headers(access_token), timeout=5)
    assert response.status_code == 200 and response.json()["code"] == 1
    assert admin(http, sandbox, "calls").json()["calls"][-1]["authorization"] == scheme


def test_authorization_wins_over_legacy_header(sandbox: SandboxServer, http) -> None:
    good = token(http, sandbox)
    url = f"{sandbox.url}{CUSTOMERS}nobody"
    bad_auth = http.get(url, headers={"Authorization": "nope", "X-ImpTokenHeader": good})
    good_auth = http.get(url, headers={"Authorization": good, "X-ImpTokenHeader": "nope"})
    assert bad_auth.status_code == 401
    assert good_auth.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer " + "0" * 40}])
def test_missing_or_unknown_token_is_401(sandbox: SandboxServer, http, headers) -> None:
    token(http, sandbox)
    for method in ("GET", "POST", "DELETE"):
        response = http.request(method, f"{sandbox.url}{CUSTOMERS}c1", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "iamport"
        assert response.json() == {"code": -1, "message": "Unauthorized", "response": None}


def test_token_is_checked_before_the_body(sandbox: SandboxServer, http) -> None:
    response = http.post(
        f"{sandbox.url}{CUSTOMERS}c1",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 401


def test_admin_expire_makes_token_401_and_next_get_token_new(sandbox: SandboxServer, http) -> None:
    old = token(http, sandbox)
    assert admin(http, sandbox, "tokens/expire").json()["expired"] == 1
    assert lookup(http, sandbox, "c1", old).status_code == 401
    fresh = token(http, sandbox)
    assert fresh != old
    assert lookup(http, sandbox, "c1", fresh).status_code == 200


def test_unauthorized_switch_rejects_valid_token(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    config = admin(http, sandbox, "config", {"unauthorized": True}).json()
    assert config["unauthorized"] is True
    assert lookup(http, sandbox, "c1", access_token).status_code == 401
    assert token_call(http, sandbox).status_code == 200  # getToken itself still works


# --- billing-key issuance ---------------------------------------------------------------------


def test_issue_success_returns_masked_customer_annotation(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    response = issue(
        http,
        sandbox,
        "cust_1",
        access_token,
        customer_uid="ignored_body_uid",
        customer_name="홍길동",
        customer_email="a@example.com",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 0 and body["message"] is None
    annotation = body["response"]
    assert annotation["customer_uid"] == "cust_1"
    assert annotation["card_number"] == "424242******4242"
    assert (annotation["card_name"], annotation["card_code"], annotation["card_type"]) == (
        "현대카드",
        "367",
        0,
    )
    assert (annotation["pg_provider"], annotation["pg_id"]) == ("nice", "nictest04m")
    assert annotation["sandbox"] is True
    assert annotation["customer_name"] == "홍길동"
    assert annotation["customer_tel"] is None and annotation["customer_postcode"] is None
    assert annotation["inserted"] == annotation["updated"]
    assert lookup(http, sandbox, "cust_1", access_token).json()["response"] == annotation
    stored = json.dumps(admin(http, sandbox, "calls").json())
    assert "4242-4242" not in stored and "4242424242424242" not in stored
    assert access_token not in stored


def test_issue_accepts_form_encoding_and_undashed_input(sandbox: SandboxServer, http) -> None:
    form = {"card_number": "5555555555554444", "expiry": "209912", "birth": "900101"}
    form["pwd_2digit"] = "00"
    response = http.post(
        f"{sandbox.url}{CUSTOMERS}form", data=form, headers=bearer(token(http, sandbox))
    )
    annotation = response.json()["response"]
    assert annotation["card_number"] == "555555******4444"
    assert annotation["card_name"] == "KB국민카드" and annotation["card_code"] == "381"


@pytest.mark.parametrize(
    ("card_number", "pg", "masked", "brand"),
    [
        ("9410-0000-0000-0005", None, "941000******0005", ("신한카드", "366", 1)),
        ("378282246310005", None, "378282*****0005", ("BC카드", "361", 0)),
        ("6011-0000-0000-0004", None, "601100******0004", ("BC카드", "361", 0)),
        ("4242-4242-4242-4242", "html5_inicis", "424242******4242", ("현대카드", "367", None)),
    ],
)
def test_issue_card_brands(sandbox: SandboxServer, http, card_number, pg, masked, brand) -> None:
    response = issue(http, sandbox, "b", token(http, sandbox), card_number=card_number, pg=pg)
    annotation = response.json()["response"]
    assert annotation["card_number"] == masked
    assert (annotation["card_name"], annotation["card_code"], annotation["card_type"]) == brand


@pytest.mark.parametrize(
    ("pg", "provider", "mid"),
    [
        ("kcp", "kcp", "T0000"),
        ("kcp.MYMID01", "kcp", "MYMID01"),
        ("html5_inicis", "html5_inicis", "INIBillTst"),
        ("ksnet", "ksnet", "sandbox_ksnet"),
        ("nosuchpg.X", "nice", "nictest04m"),
    ],
)
def test_issue_pg_selection(sandbox: SandboxServer, http, pg, provider, mid) -> None:
    annotation = issue(http, sandbox, "p", token(http, sandbox), pg=pg).json()["response"]
    assert (annotation["pg_provider"], annotation["pg_id"]) == (provider, mid)


def test_tosspayments_gets_generated_customer_id(sandbox: SandboxServer, http) -> None:
    annotation = issue(http, sandbox, "t", token(http, sandbox), pg="tosspayments").json()
    assert re.fullmatch(r"[0-9a-f-]{36}", annotation["response"]["customer_id"])


def test_reissue_replaces_key_and_keeps_inserted(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    first = issue(http, sandbox, "re", access_token).json()["response"]
    admin(http, sandbox, "clock", {"advance": 10})
    second = issue(http, sandbox, "re", access_token, card_number="5555-5555-5555-4444").json()
    second = second["response"]
    assert second["inserted"] == first["inserted"]
    assert second["updated"] >= first["updated"] + 10
    assert second["card_number"] == "555555******4444"
    assert lookup(http, sandbox, "re", access_token).json()["response"] == second


def test_customer_uid_length_limit(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    assert issue(http, sandbox, "u" * 80, access_token).json()["code"] == 0
    response = issue(http, sandbox, "u" * 81, access_token)
    assert response.status_code == 400
    assert response.json()["code"] == -1 and "80" in response.json()["message"]


def test_percent_encoded_customer_uid_is_decoded(sandbox: SandboxServer, http) -> None:
    response = issue(http, sandbox, "user%40example.com", token(http, sandbox))
    assert response.json()["response"]["customer_uid"] == "user@example.com"


F112 = "[F112]유효하지않은 카드번호를 입력하셨습니다. (card_bin 없음)"


@pytest.mark.parametrize(
    ("fields", "suffix"),
    [
        ({"card_number": "4242-4242-4242-4241"}, F112),  # Luhn
        ({"card_number": "4242 4242 4242 4242"}, F112),
        ({"card_number": "4242-4242-4242"}, F112),
        ({"card_number": "42424242424242424"}, F112),
        ({"card_number": None}, F112),
        ({"expiry": "2099-13"}, "[F113]"),
        ({"expiry": "12/99"}, "[F113]"),
        ({"expiry": kst_month(-1)}, "[F113]"),
        ({"birth": "9001"}, "[F114]"),
        ({"birth": None}, "[F114]"),
        ({"pwd_2digit": None}, "[F114]"),
        ({"pwd_2digit": "123"}, "[F114]"),
    ],
)
def test_issue_validation_failures(sandbox: SandboxServer, http, fields, suffix) -> None:
    access_token = token(http, sandbox)
    response = issue(http, sandbox, "v", access_token, **fields)
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == -1 and body["response"] is None
    assert body["message"].startswith(ISSUE_FAILED + suffix)
    assert lookup(http, sandbox, "v", access_token).json()["code"] == 1  # nothing stored


def test_issue_validation_accepts_edge_values(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    current = issue(http, sandbox, "e1", access_token, expiry=kst_month(0))
    corporate = issue(http, sandbox, "e2", access_token, birth="1234567890", pwd_2digit=None)
    assert current.json()["code"] == 0
    assert corporate.json()["code"] == 0


def test_expiry_is_judged_on_the_sandbox_clock(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    admin(http, sandbox, "clock", {"advance": 40 * 86400})
    response = issue(http, sandbox, "late", access_token, expiry=kst_month(0))
    # The token was issued before the jump and is now expired as well.
    assert response.status_code == 401
    response = issue(http, sandbox, "late", token(http, sandbox), expiry=kst_month(0))
    assert response.json()["message"].startswith(ISSUE_FAILED + "[F113]")


# --- magic inputs and faults ------------------------------------------------------------------


def test_magic_refused_card(sandbox: SandboxServer, http) -> None:
    response = issue(http, sandbox, "m", token(http, sandbox), card_number=MAGIC_REFUSED)
    assert response.status_code == 200
    assert response.json() == {
        "code": -1,
        "message": ISSUE_FAILED + "[8102]거래정지된 카드입니다.",
        "response": None,
    }


def test_magic_unconfigured_pg(sandbox: SandboxServer, http) -> None:
    response = issue(http, sandbox, "m", token(http, sandbox), pg="unconfigured")
    assert response.status_code == 200
    assert response.json() == {
        "code": 1,
        "message": "비인증결제모듈 사용정보를 찾을 수 없습니다.",
        "response": None,
    }


def test_fault_http_500(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    response = issue(http, sandbox, "f", access_token, card_number=MAGIC_500.replace("-", ""))
    assert response.status_code == 500
    assert response.json()["code"] == -1 and response.json()["response"] is None
    assert lookup(http, sandbox, "f", access_token).json()["code"] == 1


def test_fault_html_page(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    response = issue(http, sandbox, "f", access_token, card_number=MAGIC_HTML)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html" in response.text
    with pytest.raises(ValueError):
        response.json()
    assert lookup(http, sandbox, "f", access_token).json()["code"] == 1


def test_fault_connection_reset(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    with pytest.raises(requests.ConnectionError):
        issue(http, sandbox, "f", access_token, card_number=MAGIC_RESET)
    assert lookup(http, sandbox, "f", access_token).json()["code"] == 1
    calls = admin(http, sandbox, "calls").json()["calls"]
    assert [call["status"] for call in calls if call["method"] == "POST"][-1] is None


def test_fault_reset_is_a_tcp_rst_not_a_clean_close(sandbox: SandboxServer, http) -> None:
    body = json.dumps({**VALID_CARD, "card_number": MAGIC_RESET}).encode()
    head = (
        f"POST {CUSTOMERS}raw HTTP/1.1\r\nHost: x\r\nAuthorization: {token(http, sandbox)}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        with pytest.raises(ConnectionResetError):  # a FIN would read b"" instead
            sock.recv(1024)


def test_fault_hang_then_success_even_if_client_gave_up() -> None:
    with start_sandbox(hang_seconds=0.3) as server, requests.Session() as http:
        access_token = token(http, server)
        started = time.monotonic()
        response = issue(http, server, "h", access_token, card_number=MAGIC_HANG)
        assert time.monotonic() - started >= 0.3
        assert response.json()["code"] == 0
        assert response.json()["response"]["card_number"] == "400000******0028"
        # A caller that times out does not know the outcome, but the key is already issued:
        # the lookup below runs while the sandbox still holds the answer back.
        with pytest.raises(requests.ReadTimeout):
            body = {**VALID_CARD, "card_number": MAGIC_HANG}
            http.post(
                f"{server.url}{CUSTOMERS}h2", json=body, headers=bearer(access_token), timeout=0.1
            )
        assert lookup(http, server, "h2", access_token).json()["code"] == 0


def test_shutdown_wakes_hanging_request_promptly() -> None:
    server = start_sandbox(hang_seconds=30)
    outcome: list[BaseException] = []

    def hang() -> None:
        with requests.Session() as http:
            try:
                issue(http, server, "h", token(http, server), card_number=MAGIC_HANG)
            except requests.RequestException as exc:
                outcome.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    # The key is issued at once; only the answer waits.
    deadline = time.monotonic() + 3
    while server.state.get_customer("h") is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    server.shutdown()
    thread.join(3)
    assert time.monotonic() - started < 2
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], requests.ConnectionError)
    assert server.state.get_customer("h") is not None  # the reset answer loses nothing


def test_fault_trickle_sends_the_headers_at_once_then_a_byte_at_a_time(
    sandbox: SandboxServer, http
) -> None:
    access_token = token(http, sandbox)
    body = {**VALID_CARD, "card_number": MAGIC_TRICKLE}
    with trickled_answer(sandbox, f"{CUSTOMERS}t", body, access_token) as response:
        # The whole answer would take minutes; each byte comes within a fraction of a second.
        assert int(response.headers["Content-Length"]) * 0.2 > 60
        # The key was issued before the answer started.
        found = lookup(http, sandbox, "t", access_token).json()["response"]
        assert found["card_number"] == "400000******0051"


def test_fault_trickle_card_failures_answer_at_once(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    started = time.monotonic()
    response = issue(http, sandbox, "t", access_token, card_number=MAGIC_TRICKLE, expiry="2001-01")
    assert time.monotonic() - started < 1
    assert response.json()["message"].startswith(ISSUE_FAILED + "[F113]")


def test_shutdown_cuts_a_trickling_answer_short() -> None:
    server = start_sandbox()
    with requests.Session() as http:
        body = {**VALID_CARD, "card_number": MAGIC_TRICKLE}
        response = http.post(
            f"{server.url}{CUSTOMERS}t",
            json=body,
            headers=bearer(token(http, server)),
            stream=True,
            timeout=5,
        )
        assert response.raw.read(1) == b"{"
        started = time.monotonic()
        server.shutdown()
        with pytest.raises(requests.RequestException):
            response.content  # noqa: B018 - reads the rest of the body
        assert time.monotonic() - started < 2
    assert server.state.get_customer("t") is not None


# --- lookup / delete --------------------------------------------------------------------------


def test_get_and_delete_customer(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    issued = issue(http, sandbox, "d1", access_token).json()["response"]
    assert lookup(http, sandbox, "d1", access_token).json()["response"] == issued
    deleted = http.delete(
        f"{sandbox.url}{CUSTOMERS}d1", params={"reason": "탈퇴"}, headers=bearer(access_token)
    )
    assert deleted.status_code == 200 and deleted.json()["response"] == issued
    assert lookup(http, sandbox, "d1", access_token).json()["code"] == 1


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_customer_is_200_code_1_or_404_when_switched(
    sandbox: SandboxServer, http, method
) -> None:
    access_token = token(http, sandbox)
    url = f"{sandbox.url}{CUSTOMERS}ghost"
    expected = {
        "code": 1,
        "message": "요청하신 customer_uid(ghost)로 등록된 정보를 찾을 수 없습니다.",
        "response": None,
    }
    response = http.request(method, url, headers=bearer(access_token), timeout=5)
    assert (response.status_code, response.json()) == (200, expected)
    admin(http, sandbox, "config", {"not_found_as_404": True})
    response = http.request(method, url, headers=bearer(access_token), timeout=5)
    assert (response.status_code, response.json()) == (404, expected)


# --- routing, transport, admin ----------------------------------------------------------------


def test_unknown_path_404_and_wrong_method_405(sandbox: SandboxServer, http) -> None:
    missing = http.get(f"{sandbox.url}/no-such-endpoint", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"code": -1, "message": "Not Found", "response": None}
    wrong = http.get(f"{sandbox.url}/users/getToken", timeout=5)
    assert wrong.status_code == 405 and wrong.json()["code"] == -1
    assert wrong.headers["Allow"] == "POST"


def test_keep_alive_and_content_length(sandbox: SandboxServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    try:
        connection.request("GET", "/nowhere")
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        connection.request("GET", "/nowhere")
        second = connection.getresponse()
        body = second.read()
        assert connection.sock is sock  # same TCP connection reused
        assert second.version == 11
        assert int(second.getheader("Content-Length") or -1) == len(body)
        assert json.loads(body) == {"code": -1, "message": "Not Found", "response": None}
    finally:
        connection.close()


def test_latency_config_delays_responses(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    admin(http, sandbox, "config", {"token_latency_ms": 300})
    started = time.monotonic()
    token_call(http, sandbox)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    lookup(http, sandbox, "x", access_token)
    assert time.monotonic() - started < 0.3  # token latency applies to getToken only
    admin(http, sandbox, "config", {"token_latency_ms": 0, "latency_ms": 150})
    started = time.monotonic()
    lookup(http, sandbox, "x", access_token)
    assert time.monotonic() - started >= 0.15


def test_config_validation_and_reset_restores_defaults(sandbox: SandboxServer, http) -> None:
    assert admin(http, sandbox, "config", {"bogus": 1}).status_code == 400
    assert admin(http, sandbox, "config", {"latency_ms": True}).status_code == 400
    assert admin(http, sandbox, "clock", {"advance": -5}).status_code == 400
    changed = admin(http, sandbox, "config", {"not_found_as_404": True}).json()
    assert changed["not_found_as_404"] is True
    issue(http, sandbox, "r", token(http, sandbox))
    admin(http, sandbox, "reset")
    assert admin(http, sandbox, "config").json() == {
        "latency_ms": 0,
        "token_latency_ms": 0,
        "not_found_as_404": False,
        "unauthorized": False,
        "unknown_customer_code": 1,
        "duplicate_code": 1,
        "failed_blocks_merchant_uid": False,
        "partial_cancel_status": "paid",
        "hide_sandbox_payments": False,
        "webhook_url": None,
        "webhook_format": "json",
        "webhook_connect_timeout_ms": 10000,
        "webhook_read_timeout_ms": 30000,
    }
    assert admin(http, sandbox, "calls").json() == {"counts": {}, "calls": [], "in_flight": {}}
    assert lookup(http, sandbox, "r", token(http, sandbox)).json()["code"] == 1


def test_calls_in_flight_shows_a_call_until_it_is_answered(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    admin(http, sandbox, "config", {"latency_ms": 400})
    answered = threading.Event()

    def slow_lookup() -> None:
        with requests.Session() as session:
            lookup(session, sandbox, "x", access_token)
        answered.set()

    thread = threading.Thread(target=slow_lookup)
    thread.start()
    route = "GET /subscribe/customers/{customer_uid}"
    deadline = time.monotonic() + 3
    while (log := admin(http, sandbox, "calls").json())["in_flight"] != {route: 1}:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Received, not answered yet: in flight, but not logged (a call is logged with its status).
    assert not answered.is_set()
    assert route not in log["counts"]
    thread.join(5)
    log = admin(http, sandbox, "calls").json()
    assert log["in_flight"] == {} and log["counts"][route] == 1


def test_calls_log_counts_routes_and_request_ids(sandbox: SandboxServer, http) -> None:
    access_token = token(http, sandbox)
    token(http, sandbox)
    issue(http, sandbox, "a", access_token)
    http.get(
        f"{sandbox.url}{CUSTOMERS}a",
        headers={"Authorization": access_token, "X-Request-ID": "req-42"},
    )
    http.get(f"{sandbox.url}/nope")
    log = admin(http, sandbox, "calls").json()
    assert log["counts"] == {
        "POST /users/getToken": 2,
        "POST /subscribe/customers/{customer_uid}": 1,
        "GET /subscribe/customers/{customer_uid}": 1,
        "GET <unknown>": 1,
    }
    lookup_call = log["calls"][3]
    assert lookup_call == {
        "method": "GET",
        "route": "/subscribe/customers/{customer_uid}",
        "path": "/subscribe/customers/a",
        "status": 200,
        "authorization": "raw",
        "request_id": "req-42",
        "shapes": {},
    }
    assert log["calls"][0]["authorization"] is None and log["calls"][0]["request_id"] is None
    # Only the format of the card fields is kept, never their digits.
    assert log["calls"][2]["shapes"] == {
        "card_number": "dddd-dddd-dddd-dddd",
        "expiry": "dddd-dd",
        "birth": "dddddd",
        "pwd_2digit": "dd",
    }
    assert "4242" not in json.dumps(log)


# --- CLI --------------------------------------------------------------------------------------


def test_cli_fakes_the_v1_api_unless_told_otherwise_and_knows_no_other() -> None:
    assert _parse_args([]).api == "v1"
    assert _parse_args(["--api", "v1"]).api == "v1"
    with pytest.raises(SystemExit):
        _parse_args(["--api", "v3"])


def test_cli_prints_url_serves_and_exits_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "billing_service.sandbox", "--api", "v1", "--port", "0"]
        + ["--key", "cli_key", "--secret", "cli_secret"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"I'mport sandbox listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        body = {"imp_key": "cli_key", "imp_secret": "cli_secret"}
        response = requests.post(f"{match[1]}/users/getToken", json=body, timeout=5)
        assert response.json()["code"] == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert process.stdout.read() == ""  # exactly one line
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
