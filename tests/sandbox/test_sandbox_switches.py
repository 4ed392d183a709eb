"""Black-box tests of the config switches that play each variant of the UNCONFIRMED behaviour."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from billing_service.sandbox import SandboxServer

from .helpers import (
    DECLINING_CARD,
    DUPLICATE,
    NOT_FOUND,
    NOTHING_TO_CANCEL,
    REFUSING_CARD,
    UNKNOWN_BUYER,
    admin,
    cancel,
    charge,
    find,
    get_payment,
    issue,
    paid,
    with_key,
)

DEFAULTS = {
    "unknown_customer_code": 1,
    "duplicate_code": 1,
    "failed_blocks_merchant_uid": False,
    "partial_cancel_status": "paid",
    "hide_sandbox_payments": False,
}


def configure(http: requests.Session, sb: SandboxServer, **changes: Any) -> None:
    """Set switches (none: keep the defaults) and check the sandbox took them."""
    response = admin(http, sb, "config", changes)
    assert response.status_code == 200, response.text
    assert changes.items() <= response.json().items()


# --- validation, defaults, reset -------------------------------------------------------------


def test_switches_default_to_the_observed_behaviour(sandbox: SandboxServer, http) -> None:
    assert DEFAULTS.items() <= admin(http, sandbox, "config").json().items()


@pytest.mark.parametrize(
    "changes",
    [
        {"unknown_customer_code": 0},
        {"unknown_customer_code": 2},
        {"unknown_customer_code": "1"},
        {"unknown_customer_code": True},  # bool is an int subclass: still refused
        {"unknown_customer_code": 1.0},
        {"duplicate_code": 0},
        {"duplicate_code": -2},
        {"duplicate_code": None},
        {"failed_blocks_merchant_uid": 1},
        {"failed_blocks_merchant_uid": "true"},
        {"partial_cancel_status": "partial"},
        {"partial_cancel_status": "Cancelled"},
        {"partial_cancel_status": 1},
        {"hide_sandbox_payments": "yes"},
        {"hide_sandbox_payments": 0},
        {"hide_sandbox_payments": True, "duplicate_code": 0},  # one bad value: nothing changes
    ],
)
def test_bad_switch_values_are_400_and_change_nothing(
    sandbox: SandboxServer, http, changes: dict[str, Any]
) -> None:
    before = admin(http, sandbox, "config").json()
    response = admin(http, sandbox, "config", changes)
    assert response.status_code == 400
    assert any(name in response.json()["error"] for name in changes)
    assert admin(http, sandbox, "config").json() == before


def test_switches_are_set_together_shown_and_reset(sandbox: SandboxServer, http) -> None:
    changed = {
        "unknown_customer_code": -1,
        "duplicate_code": -1,
        "failed_blocks_merchant_uid": True,
        "partial_cancel_status": "cancelled",
        "hide_sandbox_payments": True,
    }
    configure(http, sandbox, **changed)
    assert changed.items() <= admin(http, sandbox, "config").json().items()
    configure(http, sandbox, unknown_customer_code=1)  # others keep their values
    config = admin(http, sandbox, "config").json()
    assert config["unknown_customer_code"] == 1 and config["duplicate_code"] == -1
    admin(http, sandbox, "reset")
    assert DEFAULTS.items() <= admin(http, sandbox, "config").json().items()


# --- unknown_customer_code -------------------------------------------------------------------


@pytest.mark.parametrize("code", [None, 1, -1])
@pytest.mark.parametrize("not_found_as_404", [False, True])
def test_unknown_customer_code(
    sandbox: SandboxServer, http, code: int | None, not_found_as_404: bool
) -> None:
    if code is not None:
        configure(http, sandbox, unknown_customer_code=code)
    # `again` stays HTTP 200 whatever the lookup endpoints answer.
    configure(http, sandbox, not_found_as_404=not_found_as_404)
    access_token = with_key(http, sandbox)
    response = charge(http, sandbox, access_token, customer_uid="ghost")
    expected = {**UNKNOWN_BUYER, "code": 1 if code is None else code}
    assert (response.status_code, response.json()) == (200, expected)
    assert find(http, sandbox, access_token, "order-1").status_code == 404


# --- duplicate_code --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [None, 1, -1])
def test_duplicate_code(sandbox: SandboxServer, http, code: int | None) -> None:
    if code is not None:
        configure(http, sandbox, duplicate_code=code)
    expected = {**DUPLICATE, "code": 1 if code is None else code}
    access_token = with_key(http, sandbox)
    first = paid(http, sandbox, access_token)
    response = charge(http, sandbox, access_token)
    assert (response.status_code, response.json()) == (200, expected)
    # The duplicate check ahead of a refusing card answers the same code.
    issue(http, sandbox, "cust", access_token, card_number=REFUSING_CARD)
    assert charge(http, sandbox, access_token).json() == expected
    assert find(http, sandbox, access_token, "order-1").json()["response"] == first


# --- failed_blocks_merchant_uid --------------------------------------------------------------


@pytest.mark.parametrize("blocks", [None, False, True])
def test_failed_blocks_merchant_uid(sandbox: SandboxServer, http, blocks: bool | None) -> None:
    if blocks is not None:
        configure(http, sandbox, failed_blocks_merchant_uid=blocks, duplicate_code=-1)
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    failed = charge(http, sandbox, access_token).json()["response"]
    assert failed["status"] == "failed"
    issue(http, sandbox, "cust", access_token)  # the customer registers a working card
    retry = charge(http, sandbox, access_token).json()
    latest = find(http, sandbox, access_token, "order-1").json()["response"]
    if blocks:
        assert retry == {**DUPLICATE, "code": -1}
        assert latest == failed  # nothing new was stored
    else:
        assert retry["code"] == 0 and retry["response"]["status"] == "paid"
        assert latest["imp_uid"] == retry["response"]["imp_uid"] != failed["imp_uid"]


@pytest.mark.parametrize("blocks", [False, True])
def test_failed_blocks_merchant_uid_after_a_ready_payment(
    sandbox: SandboxServer, http, blocks: bool
) -> None:
    configure(http, sandbox, failed_blocks_merchant_uid=blocks)
    access_token = with_key(http, sandbox)
    imp_uids = []
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):  # the prefix faults every attempt
            charge(http, sandbox, access_token, merchant_uid="fault-ready-1")
        latest = find(http, sandbox, access_token, "fault-ready-1").json()["response"]
        assert latest["status"] == "ready"
        imp_uids.append(latest["imp_uid"])
    # Blocked: the second attempt met the duplicate check and stored nothing.
    assert (imp_uids[0] == imp_uids[1]) is blocks


def test_failed_blocks_merchant_uid_leaves_other_uids_alone(sandbox: SandboxServer, http) -> None:
    configure(http, sandbox, failed_blocks_merchant_uid=True)
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    charge(http, sandbox, access_token, merchant_uid="a")
    issue(http, sandbox, "cust", access_token)
    paid(http, sandbox, access_token, merchant_uid="b")
    assert charge(http, sandbox, access_token, merchant_uid="b").json() == DUPLICATE


# --- partial_cancel_status -------------------------------------------------------------------


@pytest.mark.parametrize("partial_status", [None, "paid", "cancelled"])
def test_partial_cancel_status(sandbox: SandboxServer, http, partial_status: str | None) -> None:
    if partial_status is not None:
        configure(http, sandbox, partial_cancel_status=partial_status)
    expected_status = partial_status or "paid"
    access_token = with_key(http, sandbox)
    imp_uid = paid(http, sandbox, access_token)["imp_uid"]

    first = cancel(http, sandbox, access_token, imp_uid=imp_uid, amount=3000, checksum=10000)
    partial = first.json()["response"]
    assert (partial["status"], partial["cancel_amount"]) == (expected_status, 3000)
    by_status = find(http, sandbox, access_token, "order-1", expected_status)
    assert by_status.json()["response"] == partial
    # A `cancelled` payment with a balance left is still cancellable: the balance decides.
    too_much = cancel(http, sandbox, access_token, imp_uid=imp_uid, amount=7001).json()
    assert too_much["code"] == 1 and "7000" in too_much["message"]
    second = cancel(http, sandbox, access_token, merchant_uid="order-1", amount=2000).json()
    assert second["code"] == 0
    assert (second["response"]["status"], second["response"]["cancel_amount"]) == (
        expected_status,
        5000,
    )
    assert charge(http, sandbox, access_token).json() == DUPLICATE  # still taken
    rest = cancel(http, sandbox, access_token, imp_uid=imp_uid, checksum=5000).json()
    assert (rest["response"]["status"], rest["response"]["cancel_amount"]) == ("cancelled", 10000)
    assert [entry["amount"] for entry in rest["response"]["cancel_history"]] == [3000, 2000, 5000]
    assert cancel(http, sandbox, access_token, imp_uid=imp_uid).json() == NOTHING_TO_CANCEL


def test_partial_cancel_status_flipped_midway_never_reopens(sandbox: SandboxServer, http) -> None:
    configure(http, sandbox, partial_cancel_status="cancelled")
    access_token = with_key(http, sandbox)
    imp_uid = paid(http, sandbox, access_token)["imp_uid"]
    cancel(http, sandbox, access_token, imp_uid=imp_uid, amount=1000)
    configure(http, sandbox, partial_cancel_status="paid")
    body = cancel(http, sandbox, access_token, imp_uid=imp_uid, amount=1000).json()
    assert body["code"] == 0
    assert (body["response"]["status"], body["response"]["cancel_amount"]) == ("cancelled", 2000)


@pytest.mark.parametrize("partial_status", ["paid", "cancelled"])
def test_failed_payment_is_never_cancellable(
    sandbox: SandboxServer, http, partial_status: str
) -> None:
    configure(http, sandbox, partial_cancel_status=partial_status)
    access_token = with_key(http, sandbox, card_number=DECLINING_CARD)
    failed = charge(http, sandbox, access_token).json()["response"]
    assert failed["status"] == "failed"
    assert cancel(http, sandbox, access_token, imp_uid=failed["imp_uid"]).json() == (
        NOTHING_TO_CANCEL
    )


# --- hide_sandbox_payments -------------------------------------------------------------------


def lookups(
    http: requests.Session, sb: SandboxServer, access_token: str, imp_uid: str, **params: Any
) -> list[requests.Response]:
    """The three payment lookups of one paid `order-1`."""
    return [
        get_payment(http, sb, access_token, imp_uid, **params),
        find(http, sb, access_token, "order-1", **params),
        find(http, sb, access_token, "order-1", "paid", **params),
    ]


@pytest.mark.parametrize("hide", [None, False])
def test_sandbox_payments_visible_by_default(sandbox: SandboxServer, http, hide) -> None:
    if hide is not None:
        configure(http, sandbox, hide_sandbox_payments=hide)
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    for params in ({}, {"include_sandbox": "true"}, {"include_sandbox": "false"}):
        for response in lookups(http, sandbox, access_token, payment["imp_uid"], **params):
            assert response.status_code == 200 and response.json()["response"] == payment


def test_hide_sandbox_payments_needs_include_sandbox_true(sandbox: SandboxServer, http) -> None:
    configure(http, sandbox, hide_sandbox_payments=True)
    access_token = with_key(http, sandbox)
    payment = paid(http, sandbox, access_token)
    for params in ({}, {"include_sandbox": "false"}, {"include_sandbox": "True"}, {"x": "1"}):
        for response in lookups(http, sandbox, access_token, payment["imp_uid"], **params):
            assert (response.status_code, response.json()) == (404, NOT_FOUND), params
    for response in lookups(
        http, sandbox, access_token, payment["imp_uid"], include_sandbox="true"
    ):
        assert response.status_code == 200 and response.json()["response"] == payment
    # A bad status is still a 400, hidden or not.
    assert find(http, sandbox, access_token, "order-1", "done").status_code == 400


def test_hide_sandbox_payments_does_not_touch_cancel_or_again(sandbox: SandboxServer, http) -> None:
    configure(http, sandbox, hide_sandbox_payments=True)
    access_token = with_key(http, sandbox)
    first = paid(http, sandbox, access_token)
    assert charge(http, sandbox, access_token).json() == DUPLICATE  # the duplicate check sees it
    by_imp_uid = cancel(http, sandbox, access_token, imp_uid=first["imp_uid"], amount=1000).json()
    assert by_imp_uid["code"] == 0
    by_merchant_uid = cancel(http, sandbox, access_token, merchant_uid="order-1").json()
    assert by_merchant_uid["code"] == 0 and by_merchant_uid["response"]["status"] == "cancelled"
