"""The V2 sandbox's billing keys, checked with PortOne's SDK: issue, look up, delete, search;
the same magic cards as the I'mport sandbox; the errors as the SDK's typed errors."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from portone_server_sdk import PortOneClient
from portone_server_sdk.errors import (
    BillingKeyAlreadyDeletedError,
    BillingKeyNotFoundError,
    ChannelNotFoundError,
    ForbiddenError,
    InvalidRequestError,
    PgProviderError,
    UnauthorizedError,
    UnknownError,
)
from portone_server_sdk.payment.billing_key import (
    BillingKeyFilterInput,
    DeletedBillingKeyInfo,
    IssuedBillingKeyInfo,
)

from billing_service.sandbox import SandboxServer
from billing_service.sandbox.portone_v2 import (
    CHANNEL_KEYS,
    DEFAULT_STORE_ID,
    MERCHANT_ID,
)

from .conftest import HANG_SECONDS
from .helpers import AUTH, admin, billing_keys, card, issue, raw

EPOCH = "2000-01-01T00:00:00Z"


def test_issue_then_look_up_answers_an_issued_key_with_a_masked_card(
    client: PortOneClient,
) -> None:
    billing_key = issue(client, customer_id="cust-7")
    assert re.fullmatch(r"billing-key-[0-9a-f-]{36}", billing_key)
    info = client.payment.billing_key.get_billing_key_info(billing_key=billing_key)
    assert isinstance(info, IssuedBillingKeyInfo)
    assert info.merchant_id == MERCHANT_ID and info.store_id == DEFAULT_STORE_ID
    assert info.customer.id == "cust-7" and info.customer.name == "홍길동"
    channel = info.channels[0]
    assert (channel.type, channel.pg_provider, channel.pg_merchant_id) == (
        "TEST",
        "NICE_V2",
        "nictest04m",
    )
    assert info.methods is not None
    method = info.methods[0]
    assert method.card is not None  # type: ignore[union-attr]
    assert method.card.number == "424242******4242"  # type: ignore[union-attr]
    assert method.card.issuer == "HYUNDAI_CARD"  # type: ignore[union-attr]


def test_the_same_customer_id_gets_a_new_key_each_time(client: PortOneClient) -> None:
    assert issue(client) != issue(client)


@pytest.mark.parametrize(
    ("credential", "pg_code"),
    [
        ({"number": "4242424242424241"}, "F112"),  # Luhn
        ({"number": "4000000000000002"}, "8102"),  # the refused card
        ({"year": "20"}, "F113"),  # expired
        ({"birth": None}, "F114"),
        ({"password": None}, "F114"),  # a personal card needs its password
    ],
)
def test_a_card_the_company_refuses_is_a_pg_provider_error(
    client: PortOneClient, v2: SandboxServer, credential: dict[str, str | None], pg_code: str
) -> None:
    with pytest.raises(PgProviderError) as raised:
        issue(client, **credential)  # type: ignore[arg-type]
    assert raised.value.pg_code == pg_code and raised.value.pg_message
    assert admin(v2, "calls")["counts"] == {"POST /billing-keys": 1}
    assert (
        client.payment.billing_key.get_billing_key_infos(
            filter=BillingKeyFilterInput(from_=EPOCH)
        ).items
        == []
    )


def test_a_corporate_card_needs_no_password(client: PortOneClient) -> None:
    billing_key = issue(client, birth="1234567890", password=None)
    info = client.payment.billing_key.get_billing_key_info(billing_key=billing_key)
    assert info.methods[0].card.owner_type == "CORPORATE"  # type: ignore[union-attr,index]


def test_a_malformed_credential_is_an_invalid_request(client: PortOneClient) -> None:
    with pytest.raises(InvalidRequestError):
        issue(client, number="4242-4242-4242-4242")  # V2 takes digits only
    with pytest.raises(InvalidRequestError):
        issue(client, year="2099")  # two digits


def test_an_unknown_channel_is_channel_not_found(client: PortOneClient) -> None:
    with pytest.raises(ChannelNotFoundError):
        issue(client, channel_key="channel-key-unknown")


def test_another_channel_reports_its_pg(client: PortOneClient) -> None:
    billing_key = issue(client, channel_key=CHANNEL_KEYS["inicis_v2"])
    info = client.payment.billing_key.get_billing_key_info(billing_key=billing_key)
    assert info.channels[0].pg_provider == "INICIS_V2"
    assert info.methods[0].card.type is None  # type: ignore[union-attr,index]


def test_fault_cards_answer_500_html_or_nothing(client: PortOneClient, v2: SandboxServer) -> None:
    with pytest.raises(UnknownError):
        issue(client, number="4000000000000010")
    with pytest.raises(json.JSONDecodeError):  # the SDK reads a 200 maintenance page as JSON
        issue(client, number="4000000000000036")
    with pytest.raises(httpx.TransportError):
        issue(client, number="4000000000000044")
    html = raw(v2, "POST", "/billing-keys", {"channelKey": "x"})
    assert html.status == 400  # the body is checked first
    assert admin(v2, "calls")["calls"][-2]["status"] is None  # the reset call


def test_the_hang_card_issues_at_once_and_answers_late(
    client: PortOneClient, v2: SandboxServer
) -> None:
    with billing_keys(v2, timeout=HANG_SECONDS / 3) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.issue_billing_key(
                method=card("4000000000000028"), channel_key=CHANNEL_KEYS["nice_v2"]
            )
    keys = client.payment.billing_key.get_billing_key_infos(filter=BillingKeyFilterInput())
    assert len(keys.items) == 1  # issued before the answer was held back


def test_deleted_keys_stay_readable_and_delete_once(client: PortOneClient) -> None:
    billing_key = issue(client)
    deleted = client.payment.billing_key.delete_billing_key(billing_key=billing_key)
    info = client.payment.billing_key.get_billing_key_info(billing_key=billing_key)
    assert isinstance(info, DeletedBillingKeyInfo)
    assert info.deleted_at == deleted.deleted_at
    with pytest.raises(BillingKeyAlreadyDeletedError):
        client.payment.billing_key.delete_billing_key(billing_key=billing_key)
    with pytest.raises(BillingKeyNotFoundError):
        client.payment.billing_key.delete_billing_key(billing_key="billing-key-nope")
    with pytest.raises(BillingKeyNotFoundError):
        client.payment.billing_key.get_billing_key_info(billing_key="billing-key-nope")


def test_search_filters_sorts_newest_first_and_pages(client: PortOneClient) -> None:
    first, second = issue(client, customer_id="a"), issue(client, customer_id="a")
    issue(client, customer_id="b")
    third = issue(client, customer_id="a")
    client.payment.billing_key.delete_billing_key(billing_key=third)
    found = client.payment.billing_key.get_billing_key_infos(
        filter=BillingKeyFilterInput(
            store_id=DEFAULT_STORE_ID,
            customer_id="a",
            status=["ISSUED"],
            version="V2",
            time_range_field="ISSUED_AT",
            from_=EPOCH,
        )
    )
    assert [item.billing_key for item in found.items] == [second, first]
    assert found.page.total_count == 2
    from portone_server_sdk.common import PageInput

    paged = client.payment.billing_key.get_billing_key_infos(
        page=PageInput(number=1, size=1), filter=BillingKeyFilterInput(customer_id="a")
    )
    assert [item.billing_key for item in paged.items] == [second]
    assert paged.page.total_count == 1  # the items returned (switch total_count: every match)


def test_search_window_defaults_to_90_days(client: PortOneClient, v2: SandboxServer) -> None:
    old = issue(client)
    admin(v2, "clock", {"advance": "P91D"})
    new = issue(client)
    default = client.payment.billing_key.get_billing_key_infos()
    assert [item.billing_key for item in default.items] == [new]
    everything = client.payment.billing_key.get_billing_key_infos(
        filter=BillingKeyFilterInput(from_=EPOCH)
    )
    assert [item.billing_key for item in everything.items] == [new, old]


def test_search_takes_a_json_body_on_get_and_refuses_unknown_filters(
    client: PortOneClient, v2: SandboxServer
) -> None:
    issue(client, customer_id="a")
    issue(client, customer_id="b")
    body = {"filter": {"customerId": "b", "from": EPOCH}}
    response = raw(v2, "GET", "/billing-keys", body)
    assert response.status == 200 and len(response.json()["items"]) == 1
    refused = raw(v2, "GET", "/billing-keys", {"filter": {"pgProviders": ["NICE_V2"]}})
    assert refused.status == 400 and refused.json()["type"] == "INVALID_REQUEST"


def test_another_store_is_forbidden(client: PortOneClient, v2: SandboxServer) -> None:
    with pytest.raises(ForbiddenError):
        client.payment.billing_key.get_billing_key_infos(
            filter=BillingKeyFilterInput(store_id="store-other")
        )
    with billing_keys(v2, store_id="store-other") as other, pytest.raises(ForbiddenError):
        other.get_billing_key_info(billing_key="billing-key-nope")


def test_a_wrong_secret_is_unauthorized_with_portone_s_body(v2: SandboxServer) -> None:
    with billing_keys(v2, secret="wrong") as wrong, pytest.raises(UnauthorizedError):
        wrong.get_billing_key_info(billing_key="billing-key-nope")
    response = raw(v2, "GET", "/payments/x", headers={"Authorization": "Bearer nope"})
    assert response.status == 401 and response.json()["type"] == "UNAUTHORIZED"
    assert set(response.json()) == {"type", "message"}
    assert admin(v2, "calls")["calls"][-1]["authorization"] == "bearer"


def test_the_unauthorized_switch_revokes_the_secret(
    client: PortOneClient, v2: SandboxServer
) -> None:
    admin(v2, "config", {"unauthorized": True})
    with pytest.raises(UnauthorizedError):
        client.payment.billing_key.get_billing_key_infos()


def test_bearer_tokens_from_login_work_and_a_refresh_cancels_the_previous(
    v2: SandboxServer,
) -> None:
    secret = AUTH["Authorization"].split()[1]
    tokens = raw(v2, "POST", "/login/api-secret", {"apiSecret": secret}).json()
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
    assert raw(v2, "GET", "/billing-keys", headers=bearer).status == 200
    refreshed = raw(v2, "POST", "/token/refresh", {"refreshToken": tokens["refreshToken"]})
    assert refreshed.status == 200
    again = raw(v2, "POST", "/token/refresh", {"refreshToken": tokens["refreshToken"]})
    assert again.status == 401
    assert raw(v2, "POST", "/login/api-secret", {"apiSecret": "wrong"}).status == 401


def test_the_call_log_shows_card_shapes_never_digits(
    client: PortOneClient, v2: SandboxServer
) -> None:
    issue(client)
    calls = admin(v2, "calls")
    text = json.dumps(calls)
    assert "4242424242424242" not in text and "900101" not in text
    assert calls["calls"][0]["shapes"] == {
        "number": "d" * 16,
        "expiryYear": "dd",
        "expiryMonth": "dd",
        "birthOrBusinessRegistrationNumber": "dddddd",
        "passwordTwoDigits": "dd",
    }
    assert calls["calls"][0]["authorization"] == "portone"
    assert "4242424242424242" not in repr(v2.state.keys())
