"""Shared helpers of the V2 sandbox tests: issuance and charges through PortOne's SDK, admin
calls and plain HTTP (what the SDK cannot send or read) through urllib3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import urllib3
from portone_server_sdk import BillingKeyClient, PortOneClient
from portone_server_sdk.common import (
    CardCredential,
    CustomerInput,
    CustomerNameInput,
    PaymentAmountInput,
)
from portone_server_sdk.payment.billing_key import (
    InstantBillingKeyPaymentMethodInput,
    InstantBillingKeyPaymentMethodInputCard,
)

from billing_service.sandbox import SandboxServer
from billing_service.sandbox.portone_v2 import DEFAULT_API_SECRET, DEFAULT_CHANNEL_KEY

VALID_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"  # its key's charges are declined: 502 + FAILED
REFUSING_CARD = "4000000000009995"  # its key's charges are refused by the PG: 502 + FAILED
AUTH = {"Authorization": f"PortOne {DEFAULT_API_SECRET}"}


def card(
    number: str = VALID_CARD,
    year: str = "99",
    month: str = "12",
    birth: str | None = "900101",
    password: str | None = "12",
) -> InstantBillingKeyPaymentMethodInput:
    credential = CardCredential(
        number=number,
        expiry_year=year,
        expiry_month=month,
        birth_or_business_registration_number=birth,
        password_two_digits=password,
    )
    return InstantBillingKeyPaymentMethodInput(
        card=InstantBillingKeyPaymentMethodInputCard(credential=credential)
    )


def issue(
    client: PortOneClient,
    number: str = VALID_CARD,
    customer_id: str = "cust-1",
    channel_key: str = DEFAULT_CHANNEL_KEY,
    **credential: Any,
) -> str:
    """Issue a key through the SDK; its billingKey."""
    response = client.payment.billing_key.issue_billing_key(
        method=card(number, **credential),
        channel_key=channel_key,
        customer=CustomerInput(id=customer_id, name=CustomerNameInput(full="홍길동")),
    )
    return response.billing_key_info.billing_key


def pay(client: PortOneClient, payment_id: str, billing_key: str, total: int = 10_000) -> Any:
    return client.payment.pay_with_billing_key(
        payment_id=payment_id,
        billing_key=billing_key,
        order_name="월 구독",
        amount=PaymentAmountInput(total=total),
        currency="KRW",
    )


def admin(v2: SandboxServer, path: str, payload: Any = None) -> Any:
    """An admin call's JSON (GET without a payload)."""
    method = "GET" if payload is None else "POST"
    response = urllib3.request(method, f"{v2.url}/__sandbox__/{path}", json=payload, timeout=5)
    assert response.status == 200, (response.status, response.data)
    return response.json()


def config(v2: SandboxServer, **switches: Any) -> Any:
    return admin(v2, "config", switches)


def raw(
    v2: SandboxServer,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> urllib3.BaseHTTPResponse:
    """A plain HTTP call with the secret (unless `headers` says otherwise)."""
    sent = {**AUTH, **(headers or {})}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        sent["Content-Type"] = "application/json"
    options.setdefault("timeout", 5)
    options.setdefault("retries", False)
    return urllib3.request(method, f"{v2.url}{path}", body=data, headers=sent, **options)


def close_sdk(sdk: object, seen: set[int] | None = None) -> None:
    """Close the keep-alive connections of every sub-client (the SDK never does; a socket left
    open would warn)."""
    seen = set() if seen is None else seen
    if id(sdk) in seen:
        return
    seen.add(id(sdk))
    for name, value in vars(sdk).items():
        if name == "_sync_client":
            value.close()
        elif type(value).__module__.startswith("portone_server_sdk"):
            close_sdk(value, seen)


@contextmanager
def billing_keys(
    v2: SandboxServer,
    secret: str = DEFAULT_API_SECRET,
    store_id: str | None = None,
    timeout: float = 60.0,
) -> Iterator[BillingKeyClient]:
    """The SDK's billing-key client alone (cheaper than a whole PortOneClient) with another
    secret, store or read timeout, closed after."""
    client = BillingKeyClient(secret=secret, base_url=v2.url, store_id=store_id)
    client._sync_client = httpx.Client(timeout=timeout)
    try:
        yield client
    finally:
        close_sdk(client)
