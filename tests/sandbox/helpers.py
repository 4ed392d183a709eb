"""Shared helpers of the sandbox tests: token, admin calls, issuance, charges, lookups."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxServer

CUSTOMERS = "/subscribe/customers/"
VALID_CARD = {
    "card_number": "4242-4242-4242-4242",
    "expiry": "2099-12",
    "birth": "900101",
    "pwd_2digit": "12",
}
DECLINING_CARD = "4000-0000-0000-0341"  # its key's charges end `failed` (code 0)
REFUSING_CARD = "4000-0000-0000-9995"  # its key's charges are refused (code -1)

NOT_FOUND = {"code": -1, "message": "존재하지 않는 결제정보입니다.", "response": None}
UNKNOWN_BUYER = {"code": 1, "message": "등록되지 않은 구매자입니다.", "response": None}
DUPLICATE = {
    "code": 1,
    "message": "이미 주문이 이루어진 건입니다. "
    "(동일한 merchant_uid로 결제 또는 취소된 기록이 있습니다)",
    "response": None,
}
NOTHING_TO_CANCEL = {"code": 1, "message": "취소할 결제건이 존재하지 않습니다.", "response": None}


def token_call(http: requests.Session, sb: SandboxServer, **body: Any) -> requests.Response:
    if not body:
        body = {"imp_key": DEFAULT_API_KEY, "imp_secret": DEFAULT_API_SECRET}
    return http.post(f"{sb.url}/users/getToken", json=body, timeout=5)


def token(http: requests.Session, sb: SandboxServer) -> str:
    response = token_call(http, sb)
    assert response.status_code == 200
    value: str = response.json()["response"]["access_token"]
    return value


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def admin(
    http: requests.Session, sb: SandboxServer, path: str, payload: Any = None
) -> requests.Response:
    if path in ("calls", "config", "faults", "notices") and payload is None:
        return http.get(f"{sb.url}/__sandbox__/{path}", timeout=5)
    return http.post(f"{sb.url}/__sandbox__/{path}", json=payload, timeout=5)


def queue_fault(
    http: requests.Session, sb: SandboxServer, route: str, fault: str, **fields: Any
) -> Any:
    """Queue a route fault (`times` in fields, if any) and return the queue afterwards."""
    response = admin(http, sb, "faults", {"route": route, "fault": fault, **fields})
    assert response.status_code == 200, response.text
    return response.json()["faults"]


def issue(
    http: requests.Session, sb: SandboxServer, uid: str, access_token: str, **fields: Any
) -> requests.Response:
    body = {**VALID_CARD, **fields}
    body = {key: value for key, value in body.items() if value is not None}
    return http.post(
        f"{sb.url}{CUSTOMERS}{uid}", json=body, headers=bearer(access_token), timeout=5
    )


def lookup(http: requests.Session, sb: SandboxServer, uid: str, access_token: str) -> Any:
    return http.get(f"{sb.url}{CUSTOMERS}{uid}", headers=bearer(access_token), timeout=5)


AGAIN = "/subscribe/payments/again"


def charge(
    http: requests.Session, sb: SandboxServer, access_token: str, **fields: Any
) -> requests.Response:
    """`POST /subscribe/payments/again`; customer_uid/merchant_uid/amount/name have defaults."""
    body = {"customer_uid": "cust", "merchant_uid": "order-1", "amount": 10000, "name": "월 구독"}
    body.update(fields)
    body = {key: value for key, value in body.items() if value is not None}
    return http.post(f"{sb.url}{AGAIN}", json=body, headers=bearer(access_token), timeout=5)


def get_payment(
    http: requests.Session, sb: SandboxServer, access_token: str, imp_uid: str, **params: Any
) -> requests.Response:
    url = f"{sb.url}/payments/{imp_uid}"
    return http.get(url, params=params, headers=bearer(access_token), timeout=5)


def find(
    http: requests.Session,
    sb: SandboxServer,
    access_token: str,
    merchant_uid: str,
    status: str | None = None,
    **params: Any,
) -> requests.Response:
    url = f"{sb.url}/payments/find/{merchant_uid}" + (f"/{status}" if status else "")
    return http.get(url, params=params, headers=bearer(access_token), timeout=5)


def cancel(
    http: requests.Session, sb: SandboxServer, access_token: str, **fields: Any
) -> requests.Response:
    url = f"{sb.url}/payments/cancel"
    return http.post(url, json=fields, headers=bearer(access_token), timeout=5)


def with_key(http: requests.Session, sb: SandboxServer, uid: str = "cust", **fields: Any) -> str:
    """A fresh token and a billing key for `uid` (None fields keep the valid card's); the token."""
    fields = {name: value for name, value in fields.items() if value is not None}
    access_token = token(http, sb)
    assert issue(http, sb, uid, access_token, **fields).json()["code"] == 0
    return access_token


def paid(http: requests.Session, sb: SandboxServer, access_token: str, **fields: Any) -> Any:
    body = charge(http, sb, access_token, **fields).json()
    assert body["code"] == 0 and body["response"]["status"] == "paid", body
    return body["response"]


@contextmanager
def trickled_answer(
    sb: SandboxServer, path: str, body: dict[str, Any], access_token: str
) -> Iterator[requests.Response]:
    """POST ``body`` to a trickle fault, check that the headers come at once and the body a byte
    at a time, and give the answer, still open, to the caller."""
    with requests.Session() as slow:
        response = slow.post(
            f"{sb.url}{path}",
            json=body,
            headers=bearer(access_token),
            stream=True,  # returns with the headers
            timeout=5,
        )
        try:
            headers_at = time.monotonic()
            assert response.status_code == 200
            assert response.raw.read(1) + response.raw.read(1) == b'{"'
            assert time.monotonic() - headers_at >= 0.3
            yield response
        finally:
            response.close()
