"""Black-box tests of the sandbox's scheduled payments, its clock moves and its webhook notices.

Notices are caught by a tiny `http.server` receiver; tests synchronise on
`POST /__sandbox__/notices/wait`, never on sleeps.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from billing_service.sandbox import SandboxServer, start_sandbox
from billing_service.sandbox.__main__ import _parse_args

from .helpers import (
    CUSTOMERS,
    DECLINING_CARD,
    REFUSING_CARD,
    VALID_CARD,
    admin,
    bearer,
    cancel,
    charge,
    find,
    get_payment,
    paid,
    token,
    with_key,
)

SCHEDULE = "/subscribe/payments/schedule"
UNSCHEDULE = "/subscribe/payments/unschedule"
DAY = 86400
SCHEDULE_RESULT_FIELDS = {
    "amount",
    "buyer_addr",
    "buyer_email",
    "buyer_name",
    "buyer_postcode",
    "buyer_tel",
    "currency",
    "custom_data",
    "customer_id",
    "customer_uid",
    "executed_at",
    "fail_reason",
    "imp_uid",
    "merchant_uid",
    "name",
    "payment_status",
    "pg_id",
    "pg_provider",
    "promotion_id",
    "revoked_at",
    "schedule_at",
    "schedule_status",
}
NO_CUSTOMER = {"code": 1, "message": "등록된 고객정보가 없습니다.", "response": None}
NOTHING_TO_REVOKE = {
    "code": 1,
    "message": "취소할 예약결제 기록이 존재하지 않습니다.",
    "response": None,
}


# --- the receiver ------------------------------------------------------------------------------


class Receiver:
    """Catches notices: `(path, content type, body as a dict)`; `/fail` answers 500."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                content_type = self.headers.get("Content-Type") or ""
                if content_type.startswith("application/json"):
                    body = json.loads(raw)
                else:
                    body = dict(parse_qsl(raw.decode()))
                with receiver._lock:
                    receiver.received.append((self.path, content_type, body))
                self.send_response(500 if self.path == "/fail" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def bodies(self) -> list[dict[str, str]]:
        with self._lock:
            return [body for _, _, body in self.received]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def receiver(receiver_server: Receiver, sandbox: SandboxServer) -> Receiver:
    """The receiver, emptied, set as the sandbox's webhook URL."""
    receiver_server.clear()
    assert admin(requests, sandbox, "config", {"webhook_url": receiver_server.url}).ok
    return receiver_server


# --- helpers ---------------------------------------------------------------------------------


def sandbox_now(http: requests.Session, sb: SandboxServer) -> int:
    now: int = admin(http, sb, "clock", {"advance": 0}).json()["now"]
    return now


def schedule_call(
    http: requests.Session,
    sb: SandboxServer,
    access_token: str,
    *items: dict[str, Any],
    **body: Any,
) -> requests.Response:
    payload = {"customer_uid": "cust", "schedules": list(items), **body}
    return http.post(f"{sb.url}{SCHEDULE}", json=payload, headers=bearer(access_token), timeout=5)


def item(merchant_uid: str, schedule_at: int, **fields: Any) -> dict[str, Any]:
    return {"merchant_uid": merchant_uid, "schedule_at": schedule_at, "amount": 9900,
            "name": "월간 구독", **fields}  # fmt: skip


def scheduled(
    http: requests.Session,
    sb: SandboxServer,
    access_token: str,
    *items: dict[str, Any],
    **body: Any,
) -> list[dict[str, Any]]:
    response = schedule_call(http, sb, access_token, *items, **body)
    assert response.status_code == 200 and response.json()["code"] == 0, response.text
    results: list[dict[str, Any]] = response.json()["response"]
    return results


def get_schedule(
    http: requests.Session, sb: SandboxServer, access_token: str, merchant_uid: str
) -> requests.Response:
    url = f"{sb.url}{SCHEDULE}/{merchant_uid}"
    return http.get(url, headers=bearer(access_token), timeout=5)


def list_schedules(
    http: requests.Session, sb: SandboxServer, access_token: str, uid: str, **params: Any
) -> requests.Response:
    url = f"{sb.url}{SCHEDULE}/customers/{uid}"
    return http.get(url, params=params, headers=bearer(access_token), timeout=5)


def unschedule(
    http: requests.Session, sb: SandboxServer, access_token: str, **body: Any
) -> requests.Response:
    return http.post(f"{sb.url}{UNSCHEDULE}", json=body, headers=bearer(access_token), timeout=5)


def wait_notices(
    http: requests.Session, sb: SandboxServer, count: int, timeout: float = 5
) -> requests.Response:
    return admin(http, sb, "notices/wait", {"count": count, "timeout": timeout})


def notices(http: requests.Session, sb: SandboxServer, count: int) -> list[dict[str, Any]]:
    """Wait for `count` notices and return the record (exactly `count` long)."""
    response = wait_notices(http, sb, count)
    assert response.status_code == 200, response.text
    record: list[dict[str, Any]] = response.json()["notices"]
    assert len(record) == count, record
    return record


def no_more_notices(http: requests.Session, sb: SandboxServer, count: int) -> None:
    """Nothing beyond `count` notices arrives (checked for a short while: 408)."""
    assert wait_notices(http, sb, count + 1, timeout=0.3).status_code == 408


def find_paid(http: requests.Session, sb: SandboxServer, access_token: str, uid: str) -> Any:
    return find(http, sb, access_token, uid, "paid").json()["response"]


# --- schedule, look up, execute ----------------------------------------------------------------


def test_schedule_look_up_execute_on_a_month_and_notify_once(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    access_token = with_key(http, sandbox, customer_name="홍길동", customer_email="a@b.kr")
    at = sandbox_now(http, sandbox) + 20 * DAY
    [result] = scheduled(
        http, sandbox, access_token, item("sub-1", at, custom_data={"plan": "m"}), channel_key="c"
    )
    assert set(result) == SCHEDULE_RESULT_FIELDS
    assert result == {
        **result,
        "customer_uid": "cust",
        "merchant_uid": "sub-1",
        "imp_uid": None,
        "pg_provider": "nice",
        "pg_id": "nictest04m",
        "schedule_at": at,
        "executed_at": 0,
        "revoked_at": 0,
        "amount": 9900,
        "currency": "KRW",
        "name": "월간 구독",
        "buyer_name": "홍길동",  # from the key's customer_name
        "buyer_email": "a@b.kr",
        "custom_data": '{"plan":"m"}',
        "schedule_status": "scheduled",
        "payment_status": None,
        "fail_reason": None,
        "promotion_id": None,
    }
    assert get_schedule(http, sandbox, access_token, "sub-1").json() == {
        "code": 0,
        "message": None,
        "response": result,
    }
    # Nothing is due yet: a day's move executes nothing.
    assert admin(http, sandbox, "clock", {"advance": "P1D"}).json()["executed"] == []

    moved = admin(http, sandbox, "clock", {"advance": "P1M"}).json()
    assert moved["executed"] == ["sub-1"]
    access_token = token(http, sandbox)  # the old one expired a month ago
    executed = get_schedule(http, sandbox, access_token, "sub-1").json()["response"]
    assert executed["schedule_status"] == "executed" and executed["payment_status"] == "paid"
    assert executed["executed_at"] == moved["now"] and executed["fail_reason"] is None
    payment = get_payment(http, sandbox, access_token, executed["imp_uid"]).json()["response"]
    assert payment["status"] == "paid" and payment["merchant_uid"] == "sub-1"
    assert payment["customer_uid_usage"] == "payment.scheduled" and payment["channel"] == "api"
    assert payment["amount"] == 9900 and payment["buyer_name"] == "홍길동"

    [record] = notices(http, sandbox, 1)
    body = {"imp_uid": executed["imp_uid"], "merchant_uid": "sub-1", "status": "paid"}
    assert record == {
        "id": 1,
        "url": receiver.url,
        "format": "json",
        "body": body,
        "status": 200,
        "sent_at": record["sent_at"],
    }
    assert record["sent_at"] >= moved["now"]
    assert receiver.received == [("/", "application/json", body)]
    # Sent once: moving on executes nothing more and sends nothing more.
    assert admin(http, sandbox, "clock", {"advance": "P1M"}).json()["executed"] == []
    no_more_notices(http, sandbox, 1)
    assert len(receiver.received) == 1


def test_form_notices_and_a_schedules_notice_url_wins(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    admin(http, sandbox, "config", {"webhook_format": "form"})
    access_token = with_key(http, sandbox)
    at = sandbox_now(http, sandbox) + 60
    scheduled(
        http,
        sandbox,
        access_token,
        item("s-own", at, notice_url=f"{receiver.url}/own?shop=1"),
        item("s-console", at + 1),
    )
    assert admin(http, sandbox, "clock", {"advance": "PT2M"}).json()["executed"] == [
        "s-own",
        "s-console",
    ]  # in schedule_at order
    record = notices(http, sandbox, 2)
    assert [(notice["url"], notice["format"]) for notice in record] == [
        (f"{receiver.url}/own?shop=1", "form"),
        (receiver.url, "form"),
    ]
    form = "application/x-www-form-urlencoded"
    assert [(path, kind) for path, kind, _ in receiver.received] == [
        ("/own?shop=1", form),
        ("/", form),
    ]
    assert [body["merchant_uid"] for body in receiver.bodies()] == ["s-own", "s-console"]
    assert all(set(body) == {"imp_uid", "merchant_uid", "status"} for body in receiver.bodies())


def test_declined_and_refused_executions_fail_with_a_reason_and_a_failed_notice(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    access_token = with_key(http, sandbox, "declines", card_number=DECLINING_CARD)
    with_key(http, sandbox, "refuses", card_number=REFUSING_CARD)
    at = sandbox_now(http, sandbox) + 10
    scheduled(http, sandbox, access_token, item("s-decl", at), customer_uid="declines")
    scheduled(http, sandbox, access_token, item("s-ref", at + 1), customer_uid="refuses")

    assert admin(http, sandbox, "clock", {"advance": 60}).json()["executed"] == ["s-decl", "s-ref"]
    reasons = {
        "s-decl": "[8326]카드 한도초과",
        "s-ref": "결제승인에 실패하였습니다. [2116]개인 월 한도금액 초과",
    }
    for merchant_uid, reason in reasons.items():
        result = get_schedule(http, sandbox, access_token, merchant_uid).json()["response"]
        assert result["schedule_status"] == "executed"
        assert result["payment_status"] == "failed" and result["fail_reason"] == reason
        payment = get_payment(http, sandbox, access_token, result["imp_uid"]).json()["response"]
        assert payment["status"] == "failed" and payment["fail_reason"] == reason
        assert payment["paid_at"] == 0 and payment["failed_at"] > 0
    assert [notice["body"]["status"] for notice in notices(http, sandbox, 2)] == ["failed"] * 2
    assert [body["status"] for body in receiver.bodies()] == ["failed", "failed"]


def test_a_deleted_key_keeps_its_schedules_whose_execution_fails(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    access_token = with_key(http, sandbox)
    at = sandbox_now(http, sandbox) + 10
    scheduled(http, sandbox, access_token, item("s-del", at))
    deleted = http.delete(f"{sandbox.url}{CUSTOMERS}cust", headers=bearer(access_token), timeout=5)
    assert deleted.json()["code"] == 0
    assert get_schedule(http, sandbox, access_token, "s-del").json()["response"][
        "schedule_status"
    ] == ("scheduled")
    assert admin(http, sandbox, "clock", {"advance": 10}).json()["executed"] == ["s-del"]
    result = get_schedule(http, sandbox, access_token, "s-del").json()["response"]
    assert result["payment_status"] == "failed" and "빌링키" in result["fail_reason"]
    payment = get_payment(http, sandbox, access_token, result["imp_uid"]).json()["response"]
    assert payment["status"] == "failed" and payment["card_number"] is None
    assert notices(http, sandbox, 1)[0]["body"]["status"] == "failed"


def test_a_merchant_uid_paid_meanwhile_fails_its_execution(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    scheduled(http, sandbox, access_token, item("s-dup", sandbox_now(http, sandbox) + 5))
    paid(http, sandbox, access_token, merchant_uid="s-dup")  # `again` does not know schedules
    admin(http, sandbox, "clock", {"advance": 5})
    result = get_schedule(http, sandbox, access_token, "s-dup").json()["response"]
    assert result["payment_status"] == "failed" and "이미 주문이 이루어진" in result["fail_reason"]
    assert find_paid(http, sandbox, access_token, "s-dup")["imp_uid"] != result["imp_uid"]


def test_a_cancelled_execution_reads_cancelled(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    scheduled(http, sandbox, access_token, item("s-c", sandbox_now(http, sandbox) + 5))
    admin(http, sandbox, "clock", {"advance": 5})
    imp_uid = get_schedule(http, sandbox, access_token, "s-c").json()["response"]["imp_uid"]
    assert cancel(http, sandbox, access_token, imp_uid=imp_uid).json()["code"] == 0
    result = get_schedule(http, sandbox, access_token, "s-c").json()["response"]
    assert result["schedule_status"] == "executed" and result["payment_status"] == "cancelled"


# --- refusals ----------------------------------------------------------------------------------


def test_unknown_customer_without_card_is_refused_with_card_is_issued(
    sandbox: SandboxServer, http
) -> None:
    access_token = token(http, sandbox)
    at = sandbox_now(http, sandbox) + DAY
    assert schedule_call(http, sandbox, access_token, item("s-1", at)).json() == NO_CUSTOMER
    assert get_schedule(http, sandbox, access_token, "s-1").status_code == 404

    [result] = scheduled(http, sandbox, access_token, item("s-1", at), **VALID_CARD)
    assert result["pg_provider"] == "nice" and result["customer_uid"] == "cust"
    key = http.get(f"{sandbox.url}{CUSTOMERS}cust", headers=bearer(access_token), timeout=5)
    assert key.json()["response"]["card_number"] == "424242******4242"


def test_a_taken_merchant_uid_refuses_the_whole_request(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    at = sandbox_now(http, sandbox) + DAY
    scheduled(http, sandbox, access_token, item("s-a", at))
    paid(http, sandbox, access_token, merchant_uid="o-paid")
    scheduled(http, sandbox, access_token, item("s-rev", at))
    assert unschedule(http, sandbox, access_token, merchant_uid="s-rev").json()["code"] == 0

    for taken in ("s-a", "o-paid", "s-rev", "s-new"):  # scheduled, paid, revoked, repeated
        answer = schedule_call(
            http, sandbox, access_token, item("s-new", at), item(taken, at + 1)
        ).json()
        assert answer["code"] == 1 and answer["response"] is None
        assert taken in answer["message"]
        assert get_schedule(http, sandbox, access_token, "s-new").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"schedules": [item("s", 1)]},  # no customer_uid
        {"customer_uid": "cust"},  # no schedules
        {"customer_uid": "cust", "schedules": []},
        {"customer_uid": "cust", "schedules": {"merchant_uid": "s"}},
        {"customer_uid": "cust", "schedules": ["s"]},
        *(
            {"customer_uid": "cust", "schedules": [item("s", at)]}
            for at in (0, -5, 1.5, "soon", True, None)
        ),
        {"customer_uid": "cust", "schedules": [{"merchant_uid": "s", "schedule_at": 2**31}]},
        {"customer_uid": "cust", "schedules": [item("s", 2**31, amount=-1)]},
        {"customer_uid": "cust", "schedules": [item("x" * 41, 2**31)]},
    ],
)
def test_bad_schedule_bodies_are_400(sandbox: SandboxServer, http, body: dict[str, Any]) -> None:
    access_token = with_key(http, sandbox)
    url = f"{sandbox.url}{SCHEDULE}"
    response = http.post(url, json=body, headers=bearer(access_token), timeout=5)
    assert response.status_code == 400 and response.json()["code"] == -1
    assert response.json()["response"] is None


def test_an_unknown_schedule_is_404(sandbox: SandboxServer, http) -> None:
    response = get_schedule(http, sandbox, token(http, sandbox), "nope")
    assert response.status_code == 404 and response.json()["code"] == -1


def test_a_form_body_with_bracketed_schedules(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    at = sandbox_now(http, sandbox) + DAY
    form = {
        "customer_uid": "cust",
        "schedules[0][merchant_uid]": "f-1",
        "schedules[0][schedule_at]": str(at),
        "schedules[0][amount]": "1000",
        "schedules[0][name]": "폼",
    }
    url = f"{sandbox.url}{SCHEDULE}"
    answer = http.post(url, data=form, headers=bearer(access_token), timeout=5).json()
    assert answer["code"] == 0 and answer["response"][0]["schedule_at"] == at


# --- unschedule --------------------------------------------------------------------------------


def test_unschedule_one_then_all_only_scheduled_ones(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    with_key(http, sandbox, "other")
    now = sandbox_now(http, sandbox)
    scheduled(http, sandbox, access_token, item("u-done", now + 5), item("u-1", now + DAY),
              item("u-2", now + DAY), item("u-3", now + 2 * DAY))  # fmt: skip
    scheduled(http, sandbox, access_token, item("o-1", now + DAY), customer_uid="other")
    admin(http, sandbox, "clock", {"advance": 5})  # u-done executes

    one = unschedule(http, sandbox, access_token, customer_uid="cust", merchant_uid="u-1").json()
    assert one["code"] == 0 and [r["merchant_uid"] for r in one["response"]] == ["u-1"]
    [revoked] = one["response"]
    assert revoked["schedule_status"] == "revoked" and revoked["revoked_at"] >= now + 5
    again = unschedule(http, sandbox, access_token, merchant_uid=["u-1", "u-done"]).json()
    assert again == NOTHING_TO_REVOKE  # already revoked, already executed

    rest = unschedule(http, sandbox, access_token, customer_uid="cust").json()
    assert sorted(r["merchant_uid"] for r in rest["response"]) == ["u-2", "u-3"]
    assert unschedule(http, sandbox, access_token, customer_uid="cust").json() == NOTHING_TO_REVOKE
    assert (
        unschedule(http, sandbox, access_token, customer_uid="nobody").json() == NOTHING_TO_REVOKE
    )
    assert unschedule(http, sandbox, access_token).status_code == 400

    # Revoked schedules never execute; the other customer's still does.
    assert admin(http, sandbox, "clock", {"advance": "P3D"}).json()["executed"] == ["o-1"]
    access_token = token(http, sandbox)
    done = get_schedule(http, sandbox, access_token, "u-done").json()["response"]
    assert done["schedule_status"] == "executed" and done["revoked_at"] == 0


# --- list by customer ----------------------------------------------------------------------------


def test_list_by_customer_pages_filters_and_checks_the_window(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    now = sandbox_now(http, sandbox)
    # Sent out of order: the list is sorted by schedule_at.
    items = [item(f"l-{n:02d}", now + DAY + (24 - n) * 60) for n in range(25)]
    scheduled(http, sandbox, access_token, *items)
    unschedule(http, sandbox, access_token, merchant_uid=["l-00", "l-01"])
    window = {"from": now, "to": now + 90 * DAY}

    first = list_schedules(http, sandbox, access_token, "cust", **window).json()["response"]
    assert (first["total"], first["previous"], first["next"]) == (25, 0, 2)
    assert len(first["list"]) == 20
    assert [r["merchant_uid"] for r in first["list"]][:2] == ["l-24", "l-23"]
    ats = [r["schedule_at"] for r in first["list"]]
    assert ats == sorted(ats)
    second = list_schedules(http, sandbox, access_token, "cust", page=2, **window).json()
    assert second["response"]["previous"] == 1 and second["response"]["next"] == 0
    assert [r["merchant_uid"] for r in second["response"]["list"]] == [
        "l-04", "l-03", "l-02", "l-01", "l-00"
    ]  # fmt: skip
    revoked = list_schedules(
        http, sandbox, access_token, "cust", **{"schedule-status": "revoked"}, **window
    ).json()["response"]
    assert revoked["total"] == 2 and {r["merchant_uid"] for r in revoked["list"]} == {
        "l-00",
        "l-01",
    }
    narrow = {"from": now + DAY + 23 * 60, "to": now + DAY + 24 * 60}  # both ends included
    assert (
        list_schedules(http, sandbox, access_token, "cust", **narrow).json()["response"]["total"]
        == 2
    )
    unknown = list_schedules(http, sandbox, access_token, "nobody", **window).json()
    assert unknown == {
        "code": 0,
        "message": None,
        "response": {"total": 0, "previous": 0, "next": 0, "list": []},
    }
    for bad in (
        {"from": now, "to": now + 90 * DAY + 1},  # over 3 months
        {"to": now},  # `from` is required
        {"from": now},
        {"from": now, "to": now - 1},
        {**window, "schedule-status": "paid"},
        {**window, "page": 0},
    ):
        response = list_schedules(http, sandbox, access_token, "cust", **bad)
        assert response.status_code == 400 and response.json()["code"] == -1, bad


# --- the clock ---------------------------------------------------------------------------------


def kst(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def test_clock_to_a_time_and_calendar_months_in_kst(sandbox: SandboxServer, http) -> None:
    moved = admin(http, sandbox, "clock", {"to": "2099-01-31T00:30:00+09:00"}).json()
    assert moved == {"now": kst("2099-01-31T00:30:00+09:00"), "executed": []}
    # Still January 30 in UTC: a UTC month would end on March 1 in Korea.
    now = admin(http, sandbox, "clock", {"advance": "P1M"}).json()["now"]
    assert now == kst("2099-02-28T00:30:00+09:00")
    now = admin(http, sandbox, "clock", {"advance": "P1Y2M3DT4H5M6S"}).json()["now"]
    assert now == kst("2100-05-01T04:35:06+09:00")  # 2100-04-28 + 3 days + 4:05:06
    now = admin(http, sandbox, "clock", {"advance": "P2W"}).json()["now"]
    assert now == kst("2100-05-15T04:35:06+09:00")
    now = admin(http, sandbox, "clock", {"to": "2100-05-15T00:00:00Z"}).json()["now"]
    assert now == kst("2100-05-15T09:00:00+09:00")
    assert admin(http, sandbox, "clock", {"to": now}).json()["now"] == now  # not backwards
    assert admin(http, sandbox, "clock", {"to": now + 10}).json()["now"] == now + 10
    for bad in (
        {"to": now - 1},  # backwards
        {"to": "2099-01-01T00:00:00+09:00"},
        {"to": "2101-01-01T00:00:00"},  # no offset
        {"to": True},
        {"advance": -1},
        {"advance": "P"},
        {"advance": "PT"},
        {"advance": "1M"},
        {"advance": "P-1D"},
        {"advance": 1, "to": now + 5},
        {"advance": 1, "extra": 1},
        {},
    ):
        assert admin(http, sandbox, "clock", bad).status_code == 400, bad
    assert sandbox_now(http, sandbox) == now + 10


def test_a_clock_move_executes_everything_due_in_order(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    now = sandbox_now(http, sandbox)
    scheduled(http, sandbox, access_token, item("c-3", now + 300), item("c-1", now + 100),
              item("c-2", now + 200), item("c-later", now + 40 * DAY))  # fmt: skip
    moved = admin(http, sandbox, "clock", {"to": now + 300}).json()
    assert moved["executed"] == ["c-1", "c-2", "c-3"]


# --- notices of `again` and of cancels ------------------------------------------------------------


def test_a_paid_again_sends_a_notice_a_declined_one_none(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    access_token = with_key(http, sandbox)
    with_key(http, sandbox, "declines", card_number=DECLINING_CARD)
    with_key(http, sandbox, "refuses", card_number=REFUSING_CARD)
    payment = paid(http, sandbox, access_token, merchant_uid="o-1")
    declined = charge(http, sandbox, access_token, customer_uid="declines", merchant_uid="o-2")
    assert declined.json()["response"]["status"] == "failed"
    charge(http, sandbox, access_token, customer_uid="refuses", merchant_uid="o-3")
    charge(http, sandbox, access_token, merchant_uid="o-1")  # duplicate
    paid(http, sandbox, access_token, merchant_uid="o-4", notice_url=f"{receiver.url}/mine")

    record = notices(http, sandbox, 2)
    assert [notice["body"] for notice in record] == [
        {"imp_uid": payment["imp_uid"], "merchant_uid": "o-1", "status": "paid"},
        {"imp_uid": record[1]["body"]["imp_uid"], "merchant_uid": "o-4", "status": "paid"},
    ]
    assert [path for path, _, _ in receiver.received] == ["/", "/mine"]
    no_more_notices(http, sandbox, 2)


def test_cancels_notify_only_with_enable_webhook(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token, merchant_uid="o-1", amount=1000)
    notices(http, sandbox, 1)
    assert cancel(http, sandbox, access_token, imp_uid=payment["imp_uid"], amount=100).ok
    done = cancel(http, sandbox, access_token, merchant_uid="o-1", amount=200, enable_webhook=True)
    cancellation_id = done.json()["response"]["cancel_history"][-1]["cancellation_id"]
    assert notices(http, sandbox, 2)[1]["body"] == {
        "imp_uid": payment["imp_uid"],
        "merchant_uid": "o-1",
        "status": "cancelled",
        "cancellation_id": cancellation_id,
    }
    no_more_notices(http, sandbox, 2)


def test_no_webhook_url_sends_nothing(sandbox: SandboxServer, http) -> None:
    access_token = with_key(http, sandbox)
    paid(http, sandbox, access_token)
    no_more_notices(http, sandbox, 0)
    assert admin(http, sandbox, "notices").json() == {"notices": []}


# --- admin: resend, forge, statuses -----------------------------------------------------------


def test_resend_duplicates_and_send_forges(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token, merchant_uid="o-1")
    [first] = notices(http, sandbox, 1)
    assert admin(http, sandbox, "notices/resend", {"id": first["id"], "times": 2}).json() == {
        "queued": 2
    }
    forged = {"imp_uid": "imps_000000000000", "merchant_uid": "o-1", "status": "paid"}
    sent = admin(http, sandbox, "notices/send", {**forged, "url": f"{receiver.url}/forged"})
    assert sent.json() == {"queued": 1}
    record = notices(http, sandbox, 4)
    assert [notice["id"] for notice in record] == [1, 2, 3, 4]
    expected = {"imp_uid": payment["imp_uid"], "merchant_uid": "o-1", "status": "paid"}
    assert receiver.bodies() == [expected, expected, expected, forged]
    assert receiver.received[-1][0] == "/forged"
    assert admin(http, sandbox, "notices").json()["notices"] == record

    assert admin(http, sandbox, "notices/resend", {"id": 99}).status_code == 404
    for bad in ({"id": "1"}, {"id": 1, "times": 0}, {"id": 1, "times": True}):
        assert admin(http, sandbox, "notices/resend", bad).status_code == 400
    assert admin(http, sandbox, "notices/send", {"imp_uid": "x"}).status_code == 400
    assert admin(http, sandbox, "notices/send", {**forged, "url": "ftp://x"}).status_code == 400
    assert admin(http, sandbox, "notices/wait", {"count": -1}).status_code == 400


def test_the_receivers_status_or_null_is_recorded(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    forged = {"imp_uid": "imps_1", "merchant_uid": "m", "status": "failed"}
    admin(http, sandbox, "notices/send", {**forged, "url": f"{receiver.url}/fail"})
    admin(http, sandbox, "notices/send", {**forged, "url": dead, "format": "form"})
    assert [(n["status"], n["format"]) for n in notices(http, sandbox, 2)] == [
        (500, "json"),
        (None, "form"),
    ]  # sent once each: no retry
    no_more_notices(http, sandbox, 2)


def test_reset_clears_schedules_and_notices(
    sandbox: SandboxServer, http, receiver: Receiver
) -> None:
    access_token = with_key(http, sandbox)
    paid(http, sandbox, access_token)
    scheduled(http, sandbox, access_token, item("r-1", sandbox_now(http, sandbox) + DAY))
    notices(http, sandbox, 1)
    admin(http, sandbox, "reset")
    assert admin(http, sandbox, "notices").json() == {"notices": []}
    assert admin(http, sandbox, "config").json()["webhook_url"] is None
    assert get_schedule(http, sandbox, token(http, sandbox), "r-1").status_code == 404
    assert admin(http, sandbox, "clock", {"advance": "P2D"}).json()["executed"] == []


def test_webhook_config_validation(sandbox: SandboxServer, http) -> None:
    for bad in (
        {"webhook_url": "ftp://host/"},
        {"webhook_url": "not a url"},
        {"webhook_url": 1},
        {"webhook_format": "xml"},
        {"webhook_read_timeout_ms": 0},
    ):
        assert admin(http, sandbox, "config", bad).status_code == 400, bad
    changed = admin(http, sandbox, "config", {"webhook_url": "https://shop.example/hook"}).json()
    assert changed["webhook_url"] == "https://shop.example/hook"
    assert admin(http, sandbox, "config", {"webhook_url": None}).json()["webhook_url"] is None


def test_start_sandbox_and_the_cli_take_a_webhook_url(receiver_server: Receiver) -> None:
    assert _parse_args(["--webhook-url", "http://h/x"]).webhook_url == "http://h/x"
    assert _parse_args([]).webhook_url is None
    with pytest.raises(ValueError):
        start_sandbox(webhook_url="nowhere")
    receiver_server.clear()
    with start_sandbox(webhook_url=receiver_server.url) as sb, requests.Session() as http:
        admin(http, sb, "reset")  # keeps the start-up webhook URL
        assert admin(http, sb, "config").json()["webhook_url"] == receiver_server.url
        paid(http, sb, with_key(http, sb))
        assert notices(http, sb, 1)[0]["url"] == receiver_server.url


# --- real time ---------------------------------------------------------------------------------


def test_a_schedule_executes_in_real_time(sandbox: SandboxServer, http, receiver: Receiver) -> None:
    access_token = with_key(http, sandbox)
    scheduled(http, sandbox, access_token, item("rt-1", sandbox_now(http, sandbox) + 1))
    [record] = notices(http, sandbox, 1)  # within the wait's 5 s, no sleeps
    result = get_schedule(http, sandbox, access_token, "rt-1").json()["response"]
    assert result["schedule_status"] == "executed" and result["payment_status"] == "paid"
    assert record["body"] == {
        "imp_uid": result["imp_uid"],
        "merchant_uid": "rt-1",
        "status": "paid",
    }
    assert result["executed_at"] >= result["schedule_at"]
