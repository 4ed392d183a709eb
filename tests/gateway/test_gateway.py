"""The I'mport client on its own, over real HTTP: token cache, 401 refresh, failure classes."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from billing_service.gateway import (
    CancelRefused,
    CardDeclined,
    CardDetails,
    CardRejected,
    Charge,
    ChargeOutcomeUnknown,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    GatewayTimeout,
    GatewayUnavailable,
    IamportClient,
    NothingToCancel,
    PaymentNotFound,
    ProviderError,
    UnexpectedResponse,
)
from billing_service.gateway.iamport_v1.token import REFRESH_MARGIN
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET

from ..support import CARD, ISSUE_ROUTE, REJECTED_CARD, TOKEN_ANSWER, TOKEN_ROUTE, envelope

GOOD_CARD = CardDetails(number=CARD, expiry="2031-07", birth="880101", pwd_2digit="47")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(url: str, **kwargs) -> IamportClient:
    return IamportClient(url, DEFAULT_API_KEY, DEFAULT_API_SECRET, **kwargs)


def test_token_is_fetched_once_and_reused(sandbox):
    client = make_client(sandbox.url)

    for i in range(3):
        client.issue_billing_key(f"uid-{i}", GOOD_CARD)

    assert sandbox.count(TOKEN_ROUTE) == 1
    assert sandbox.count(ISSUE_ROUTE) == 3


def test_token_is_refreshed_shortly_before_it_expires(sandbox):
    clock = FakeClock()
    client = make_client(sandbox.url, clock=clock)
    client.issue_billing_key("uid", GOOD_CARD)

    clock.now += 1800 - REFRESH_MARGIN - 1
    client.issue_billing_key("uid", GOOD_CARD)
    assert sandbox.count(TOKEN_ROUTE) == 1

    clock.now += 2
    client.issue_billing_key("uid", GOOD_CARD)
    assert sandbox.count(TOKEN_ROUTE) == 2


def test_concurrent_cold_start_fetches_one_token(sandbox):
    # A slow getToken keeps every thread waiting on the same fetch.
    sandbox.admin("POST", "config", token_latency_ms=300)
    client = make_client(sandbox.url)
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def issue(i: int) -> None:
        barrier.wait()
        try:
            client.issue_billing_key(f"uid-{i}", GOOD_CARD)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sandbox.count(TOKEN_ROUTE) == 1
    assert sandbox.count(ISSUE_ROUTE) == 16


def test_a_refused_token_is_refreshed_once_and_the_call_retried(sandbox):
    client = make_client(sandbox.url)
    client.issue_billing_key("uid", GOOD_CARD)
    sandbox.admin("POST", "tokens/expire")

    key = client.issue_billing_key("uid", GOOD_CARD)

    assert key.customer_uid == "uid"
    assert sandbox.count(TOKEN_ROUTE) == 2
    statuses = [c["status"] for c in sandbox.calls(ISSUE_ROUTE)]
    assert statuses == [200, 401, 200]


def test_a_token_refused_twice_is_an_auth_failure_without_a_loop(sandbox):
    sandbox.admin("POST", "config", unauthorized=True)
    client = make_client(sandbox.url)

    with pytest.raises(GatewayAuthFailed):
        client.issue_billing_key("uid", GOOD_CARD)

    assert sandbox.count(TOKEN_ROUTE) == 2
    assert sandbox.count(ISSUE_ROUTE) == 2


def test_token_is_sent_as_bearer(sandbox):
    make_client(sandbox.url).issue_billing_key("uid", GOOD_CARD)

    [call] = sandbox.calls(ISSUE_ROUTE)
    assert call["authorization"] == "bearer"


def test_rejection_keeps_imports_code_and_message(sandbox):
    card = CardDetails(number=REJECTED_CARD, expiry="2031-07", birth="880101", pwd_2digit="47")

    with pytest.raises(CardRejected) as info:
        make_client(sandbox.url).issue_billing_key("uid", card)

    assert info.value.code == -1
    assert info.value.http_status == 200
    assert "거래정지" in info.value.message
    assert isinstance(info.value.__cause__, Exception)


def test_card_details_never_show_in_repr():
    text = repr(GOOD_CARD)

    assert CARD not in text and "880101" not in text and "47" not in text


def test_read_timeout_is_applied(sandbox):
    card = CardDetails(number="4000000000000028", expiry="2031-07", birth="880101", pwd_2digit="47")

    with pytest.raises(GatewayTimeout):
        make_client(sandbox.url, read_timeout=0.2).issue_billing_key("uid", card)


@pytest.mark.parametrize(
    "answer",
    [
        {"code": 0, "message": None, "response": None},
        {"code": 0, "message": None, "response": {"customer_uid": "uid"}},
        {
            "code": 0,
            "message": None,
            "response": {"customer_uid": "uid", "inserted": "x", "updated": 1},
        },
        {"code": "0", "message": None, "response": {}},
        {"message": "no code"},
        ["not", "an", "envelope"],
    ],
)
def test_unexpected_shapes_are_unexpected_responses(canned, answer):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, answer)

    with pytest.raises(UnexpectedResponse):
        make_client(canned.url).issue_billing_key("uid", GOOD_CARD)


def test_malformed_token_is_an_unexpected_response(canned):
    canned.add(200, envelope({"access_token": "a"}))

    with pytest.raises(UnexpectedResponse):
        make_client(canned.url).issue_billing_key("uid", GOOD_CARD)


def test_redirects_are_not_followed(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(307, b"", {"Location": "http://127.0.0.1:9/steal"})

    with pytest.raises(UnexpectedResponse):
        make_client(canned.url).issue_billing_key("uid", GOOD_CARD)

    assert canned.paths == ["/users/getToken", "/subscribe/customers/uid"]


def test_envelope_is_read_on_4xx(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(400, envelope(code=-1, message="이니시스 빌링결제는 상품명이 필수입니다."))

    with pytest.raises(CardRejected) as info:
        make_client(canned.url).issue_billing_key("uid", GOOD_CARD)

    assert info.value.http_status == 400
    assert info.value.message == "이니시스 빌링결제는 상품명이 필수입니다."


def test_5xx_with_an_envelope_is_still_unexpected(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(503, envelope(code=-1, message="점검중"))

    with pytest.raises(UnexpectedResponse):
        make_client(canned.url).issue_billing_key("uid", GOOD_CARD)


def test_a_number_imports_forgot_to_mask_is_masked(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(
        200,
        {
            "code": 0,
            "message": None,
            "response": {
                "customer_uid": "uid",
                "card_number": "4242424242424242",
                "inserted": 1,
                "updated": 1,
            },
        },
    )

    key = make_client(canned.url).issue_billing_key("uid", GOOD_CARD)

    assert key.card_number == "************4242"


def test_connect_timeout_is_applied():
    # A listener with a full backlog never completes a new handshake: the connect times out.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port))
        try:
            client = make_client(f"http://127.0.0.1:{port}", connect_timeout=0.2)
            with pytest.raises(GatewayTimeout):
                client.issue_billing_key("uid", GOOD_CARD)
        finally:
            filler.close()


def test_a_stall_in_the_middle_of_the_body_is_a_timeout(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope({"customer_uid": "uid"}), stall=True)

    with pytest.raises(GatewayTimeout):
        make_client(canned.url, read_timeout=0.3).issue_billing_key("uid", GOOD_CARD)


@pytest.mark.parametrize("status", [200, 400])
def test_a_token_refused_with_an_envelope_code_is_an_auth_failure_not_a_card_rejection(
    canned, status
):
    missing = "imp_key, imp_secret 파라메터가 누락되었습니다."
    canned.add(status, envelope(code=-1, message=missing))

    with pytest.raises(GatewayAuthFailed):
        make_client(canned.url).issue_billing_key("uid", GOOD_CARD)


@pytest.mark.parametrize("status", [403, 404, 405, 409])
def test_other_4xx_with_an_envelope_are_not_card_rejections(canned, status):
    canned.add(200, TOKEN_ANSWER)
    canned.add(status, envelope(code=-1, message="Not Found"))

    with pytest.raises(ProviderError) as info:
        make_client(canned.url).issue_billing_key("uid", GOOD_CARD)

    assert not isinstance(info.value, CardRejected)
    assert info.value.http_status == status


@pytest.mark.parametrize("card_type", [[0], {"x": 1}, True, 7, "credit"])
def test_an_unexpected_card_type_counts_as_unreported(canned, card_type):
    canned.add(200, TOKEN_ANSWER)
    annotation = {"customer_uid": "uid", "card_type": card_type, "inserted": 1, "updated": 1}
    canned.add(200, envelope(annotation))

    assert make_client(canned.url).issue_billing_key("uid", GOOD_CARD).card_type is None


def test_threads_waiting_on_a_failed_token_fetch_share_its_failure(canned):
    canned.add(500, b"<html>down</html>", {"Content-Type": "text/html"}, delay=0.3)
    client = make_client(canned.url)
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def issue() -> None:
        barrier.wait()
        try:
            client.issue_billing_key("uid", GOOD_CARD)
        except UnexpectedResponse as exc:
            failures.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(failures) == 8
    assert canned.paths == ["/users/getToken"]  # one fetch, not eight in turn


PAID = {
    "imp_uid": "imps_1",
    "merchant_uid": "o-1",
    "customer_uid": "uid",
    "status": "paid",
    "amount": 9900,
    "cancel_amount": 100,
}


@pytest.mark.parametrize(("flag", "sandbox"), [(True, True), (False, False), (None, False)])
def test_a_payments_test_channel_flag_is_kept(canned, flag, sandbox):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope({**PAID, "sandbox": flag}))

    assert make_client(canned.url).get_payment("imps_1").sandbox is sandbox


def test_a_malformed_test_channel_flag_is_an_unexpected_response(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope({**PAID, "sandbox": "false"}))

    with pytest.raises(UnexpectedResponse):
        make_client(canned.url).get_payment("imps_1")


def test_a_cancel_sends_the_balance_it_read_as_checksum(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(PAID))
    # I'mport refuses when the balance moved (a concurrent cancel) since we read it.
    canned.add(200, envelope(code=1, message="checksum 불일치"))
    # The refusal is explained by looking the payment up again: its balance moved.
    canned.add(200, envelope({**PAID, "cancel_amount": 300}))

    with pytest.raises(NothingToCancel) as info:
        make_client(canned.url).cancel_payment("imps_1", "customer asked", amount=500)

    assert "balance changed" in info.value.message
    # include_sandbox: I'mport hides test-channel payments from lookups without it.
    assert canned.paths == [
        "/users/getToken",
        "/payments/imps_1?include_sandbox=true",
        "/payments/cancel",
        "/payments/imps_1?include_sandbox=true",
    ]
    assert json.loads(canned.bodies[2]) == {
        "imp_uid": "imps_1",
        "reason": "customer asked",
        "checksum": 9800,
        "amount": 500,
    }


def test_custom_data_is_sent_to_imports_as_a_json_string(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(PAID))
    charge = Charge(
        customer_uid="uid",
        merchant_uid="o-1",
        amount=9900,
        name="월간 구독",
        custom_data={"plan": "monthly", "seats": 3},
    )

    make_client(canned.url).charge_billing_key(charge)

    sent = json.loads(canned.bodies[1])
    assert sent["custom_data"] == '{"plan": "monthly", "seats": 3}'
    assert (sent["amount"], sent["currency"], sent["name"]) == (9900, "KRW", "월간 구독")


CHARGE = Charge(customer_uid="uid", merchant_uid="o-1", amount=9900, name="월간 구독")
DUPLICATE = (
    "이미 주문이 이루어진 건입니다. (동일한 merchant_uid로 결제 또는 취소된 기록이 있습니다)"
)
KEY = {"customer_uid": "uid", "inserted": 1, "updated": 1}


def test_a_token_failure_during_a_charge_is_not_an_unknown_outcome(canned):
    canned.add(500, b"<html>down</html>", {"Content-Type": "text/html"})

    with pytest.raises(UnexpectedResponse) as info:
        make_client(canned.url).charge_billing_key(CHARGE)

    assert not isinstance(info.value, ChargeOutcomeUnknown)
    assert info.value.request_sent is False
    assert canned.paths == ["/users/getToken"]  # no charge, no reconciliation


def test_calls_reuse_a_connection_but_a_forked_process_opens_its_own(canned):
    canned.add(200, TOKEN_ANSWER)
    for _ in range(4):
        canned.add(200, envelope(KEY))
    client = make_client(canned.url)
    client.get_billing_key("uid")  # the token, then the lookup
    client.get_billing_key("uid")

    child = os.fork()
    if child == 0:  # the child must not write into its parent's socket
        status = 1
        try:
            client.get_billing_key("uid")
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    client.get_billing_key("uid")

    assert os.waitstatus_to_exitcode(status) == 0
    token, parent, again, forked, parent_later = canned.peers
    assert token == parent == again == parent_later != forked


def test_calls_go_through_the_configured_proxy_with_its_credentials(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(KEY))
    proxy = canned.url.replace("http://", "http://squid:pa55@")
    client = IamportClient(
        "http://iamport.invalid/v1", DEFAULT_API_KEY, DEFAULT_API_SECRET, proxy_url=proxy
    )

    assert client.get_billing_key("uid").customer_uid == "uid"
    # A forward proxy is asked for the whole URL.
    assert canned.paths == [
        "http://iamport.invalid/v1/users/getToken",
        "http://iamport.invalid/v1/subscribe/customers/uid",
    ]
    assert {h["proxy-authorization"] for h in canned.headers} == {"Basic c3F1aWQ6cGE1NQ=="}


def test_a_charge_that_could_not_connect_is_not_reconciled(canned):
    canned.add(200, TOKEN_ANSWER)
    # Connection: close, so the charge has to open a new connection, which is refused.
    canned.add(200, envelope(KEY), {"Connection": "close"})
    client = make_client(canned.url)
    client.get_billing_key("uid")  # caches the token
    canned.close()  # I'mport goes away

    with pytest.raises(GatewayUnavailable) as failure:
        client.charge_billing_key(CHARGE)

    assert failure.value.request_sent is False
    assert canned.paths == ["/users/getToken", "/subscribe/customers/uid"]


def test_reconciliation_that_cannot_look_the_order_up_is_an_unknown_outcome(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(502, b"bad gateway", {"Content-Type": "text/plain"})
    canned.add(502, b"bad gateway", {"Content-Type": "text/plain"})

    with pytest.raises(ChargeOutcomeUnknown):
        make_client(canned.url).charge_billing_key(CHARGE)

    assert canned.paths[1:] == [
        "/subscribe/payments/again",
        "/payments/find/o-1?include_sandbox=true",
    ]


def test_a_bare_404_on_lookup_means_not_found(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(code=-1, message="결제승인에 실패하였습니다."))
    canned.add(404, b"Not Found", {"Content-Type": "text/plain"})  # find: no order
    canned.add(200, envelope(KEY))  # the key exists: a decline

    with pytest.raises(CardDeclined) as info:
        make_client(canned.url).charge_billing_key(CHARGE)

    assert info.value.message == "결제승인에 실패하였습니다."


def test_a_duplicate_refusal_is_a_409_even_when_the_order_is_hidden(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(code=-1, message=DUPLICATE))
    canned.add(404, envelope(code=-1, message="존재하지 않는 결제정보입니다."))

    with pytest.raises(DuplicateMerchantUid):
        make_client(canned.url).charge_billing_key(CHARGE)

    assert len(canned.paths) == 3  # no key lookup needed


def test_a_partly_cancelled_payment_marked_cancelled_can_be_cancelled_further(canned):
    partly = {**PAID, "status": "cancelled", "amount": 1000, "cancel_amount": 100}
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(partly))
    canned.add(200, envelope({**partly, "cancel_amount": 1000}))

    payment = make_client(canned.url).cancel_payment("imps_1", "rest").payment

    assert payment.cancel_amount == 1000
    assert json.loads(canned.bodies[2])["checksum"] == 900


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        (404, envelope(code=-1, message="존재하지 않는 결제정보입니다."), PaymentNotFound),
        (200, envelope(code=1, message="취소할 결제건이 존재하지 않습니다."), NothingToCancel),
        (400, envelope(code=-1, message="PG사 취소 실패"), ProviderError),
        (200, envelope(code=-1, message="부분취소 불가"), CancelRefused),
    ],
)
def test_cancel_refusals_are_told_apart(canned, status, answer, error):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(PAID))
    canned.add(status, answer)
    # A refusal with code != 0 is explained by the payment looked up again.
    gone = {**PAID, "status": "cancelled", "cancel_amount": PAID["amount"]}
    canned.add(200, envelope(gone if error is NothingToCancel else PAID))

    with pytest.raises(error) as info:
        make_client(canned.url).cancel_payment("imps_1", "r")

    assert type(info.value) is error


# A deadline of 0.7 s; a trickled status line and headers would take over 6 s.
FAST = {"connect_timeout": 0.2, "read_timeout": 0.5}


@pytest.mark.parametrize("proxied", [False, True])
def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_deadline(canned, proxied):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(KEY), trickle_headers=True)  # each byte well within read_timeout
    canned.add(200, envelope(KEY))
    if proxied:  # the proxy manager's pools read answers the same way
        url, options = "http://iamport.invalid/v1", {"proxy_url": canned.url}
    else:
        url, options = canned.url, {}
    client = IamportClient(url, DEFAULT_API_KEY, DEFAULT_API_SECRET, **FAST, **options)
    client.check_ready()  # the token, so that only the trickled call is timed

    started = time.monotonic()
    with pytest.raises(GatewayTimeout) as info:
        client.get_billing_key("uid")
    elapsed = time.monotonic() - started

    assert info.value.request_sent is True
    assert 0.6 <= elapsed < 1.5
    # The cut-off connection is not reused: the next call opens another and is answered.
    assert client.get_billing_key("uid").customer_uid == "uid"
    assert canned.peers[1] != canned.peers[2]


def test_the_deadline_starts_no_thread_per_call(sandbox):
    client = make_client(sandbox.url, **FAST)
    client.issue_billing_key("uid", GOOD_CARD)  # the token, a kept-alive connection
    before = threading.active_count()

    for _ in range(50):
        client.get_billing_key("uid")

    assert threading.active_count() <= before


def test_a_charge_whose_answer_headers_trickle_is_reconciled_not_sent_again(canned):
    canned.add(200, TOKEN_ANSWER)
    canned.add(200, envelope(PAID), trickle_headers=True)
    canned.add(200, envelope(PAID))  # find: the charge went through

    client = make_client(canned.url, **FAST)
    client.check_ready()

    started = time.monotonic()
    result = client.charge_billing_key(CHARGE)

    assert time.monotonic() - started < 1.5  # cut off at the deadline, not once the headers came
    assert result.reconciled and result.payment.imp_uid == "imps_1"
    assert canned.paths == [
        "/users/getToken",
        "/subscribe/payments/again",
        "/payments/find/o-1?include_sandbox=true",
    ]
