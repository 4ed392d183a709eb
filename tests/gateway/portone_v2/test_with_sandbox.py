"""The PortOne V2 client against the V2 sandbox over real HTTP: whole flows, with the sandbox's
magic cards, order-id prefixes and switches for what PortOne leaves unconfirmed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import urllib3

from billing_service.gateway import (
    BillingKeyNotFound,
    CancelExceedsBalance,
    CancelOutcomeUnknown,
    CancelPending,
    CancelRefused,
    CardDeclined,
    CardDetails,
    CardRejected,
    Charge,
    ChargeOutcomeUnknown,
    ChargePending,
    DuplicateMerchantUid,
    GatewayAuthFailed,
    KeyNotRemembered,
    NothingToCancel,
    PaymentNotFound,
    PortOneClient,
    UnexpectedResponse,
)
from billing_service.gateway.call_context import IDEMPOTENCY_SEED
from billing_service.sandbox import SandboxServer
from billing_service.sandbox import cards as magic
from billing_service.sandbox.portone_v2 import (
    DEFAULT_API_SECRET,
    DEFAULT_STORE_ID,
)

from .support import MemoryDirectory

GOOD = "4111111111111111"


def card(number: str = GOOD) -> CardDetails:
    return CardDetails(number=number, expiry="2030-07", birth="900101", pwd_2digit="12")


def configure(v2: SandboxServer, **switches: object) -> None:
    response = urllib3.request("POST", f"{v2.url}/__sandbox__/config", json=switches, timeout=5)
    assert response.status == 200, response.data


@contextmanager
def seeded(seed: str) -> Iterator[None]:
    token = IDEMPOTENCY_SEED.set(seed)
    try:
        yield
    finally:
        IDEMPOTENCY_SEED.reset(token)


def charge(merchant_uid: str = "o-1", amount: int = 9900, **extra) -> Charge:
    return Charge(
        customer_uid="uid", merchant_uid=merchant_uid, amount=amount, name="구독", **extra
    )


def test_issue_look_up_charge_look_up_cancel_delete(client, directory):
    with seeded("issue"):
        key = client.issue_billing_key("uid", card(), {"customer_id": "crm-1"})
    assert (key.customer_uid, key.provider, key.replaced) == ("uid", "portone_v2", False)
    assert key.card_number is not None and key.card_number.endswith("1111")
    assert key.pg_provider == "nice"  # V1's name of NICE_V2
    assert client.get_billing_key("uid") == key

    with seeded("charge"):
        paid = client.charge_billing_key(charge()).payment
    assert (paid.status, paid.amount, paid.customer_uid, paid.sandbox) == (
        "paid",
        9900,
        "uid",
        True,
    )
    assert client.get_payment(paid.imp_uid) == paid
    assert client.find_payment("o-1") == paid

    with seeded("cancel"):
        cancelled = client.cancel_payment(paid.imp_uid, "customer asked", 900).payment
    assert (cancelled.status, cancelled.cancel_amount, cancelled.balance) == ("paid", 900, 9000)
    assert [c.amount for c in cancelled.cancel_history] == [900]

    deleted = client.delete_billing_key("uid", "closed")
    assert deleted.customer_uid == "uid"
    with pytest.raises(BillingKeyNotFound):
        client.get_billing_key("uid")


def test_a_payment_is_found_without_the_directory(client, directory):
    client.issue_billing_key("uid", card())
    paid = client.charge_billing_key(charge()).payment
    directory.payments.clear()

    assert client.get_payment(paid.imp_uid) == paid
    assert directory.payments == {paid.imp_uid: "o-1"}


def test_a_key_is_found_without_the_directory(client, directory):
    issued = client.issue_billing_key("uid", card())
    directory.keys.clear()

    assert client.get_billing_key("uid") == issued


def test_reissuing_replaces_and_the_hosts_job_deletes_the_older_key(client, directory):
    first = client.issue_billing_key("uid", card())
    old_key = directory.keys["uid"]
    second = client.issue_billing_key("uid", card("5555555555554444"))

    assert second.replaced and not first.replaced
    assert directory.keys["uid"] != old_key
    # Meanwhile the newest key is the one found, even without the directory.
    directory.keys.clear()
    assert client.get_billing_key("uid").card_number == second.card_number

    assert client.delete_other_keys("uid", directory.keys["uid"]) == [old_key]
    assert client.delete_other_keys("uid", directory.keys["uid"]) == []  # done: nothing left


def test_a_card_the_pg_refuses_is_rejected(client):
    with pytest.raises(CardRejected) as info:
        client.issue_billing_key("uid", card(magic.REFUSED_CARD))
    assert info.value.pg_code == magic.REFUSED_CODE
    assert magic.REFUSED_TEXT in info.value.message


def test_a_decline_is_the_failed_payment_with_the_pgs_words(client):
    client.issue_billing_key("uid", card(magic.DECLINING_CARD))

    with pytest.raises(CardDeclined) as info:
        client.charge_billing_key(charge())

    assert info.value.pg_code == magic.DECLINED_CODE
    assert magic.DECLINED_TEXT in info.value.message
    assert info.value.payment is not None and info.value.payment.status == "failed"


def test_a_decline_that_leaves_no_payment_is_an_unknown_outcome(client, v2):
    configure(v2, decline_records_payment=False)
    client.issue_billing_key("uid", card(magic.DECLINING_CARD))

    with pytest.raises(ChargeOutcomeUnknown):
        client.charge_billing_key(charge())


def test_a_paid_order_charged_again_is_replayed_and_another_amount_is_a_duplicate(client):
    client.issue_billing_key("uid", card())
    first = client.charge_billing_key(charge()).payment

    again = client.charge_billing_key(charge())
    assert again.replayed and again.payment == first
    with pytest.raises(DuplicateMerchantUid):
        client.charge_billing_key(charge(amount=100))


@pytest.mark.parametrize("blocks", [True, False])
def test_a_failed_order_charged_again(client, v2, blocks):
    configure(v2, failed_blocks_payment_id=blocks)
    client.issue_billing_key("uid", card(magic.DECLINING_CARD))
    with pytest.raises(CardDeclined):
        client.charge_billing_key(charge())

    if blocks:  # PortOne keeps the failed order: a new merchant_uid is needed
        with pytest.raises(DuplicateMerchantUid) as info:
            client.charge_billing_key(charge(), pending=True)
        assert "new merchant_uid" in info.value.message
    else:  # charged again: declined again, a new attempt
        with pytest.raises(CardDeclined):
            client.charge_billing_key(charge(), pending=True)


def test_a_charge_left_pending_is_followed_up(client):
    client.issue_billing_key("uid", card())

    with pytest.raises(ChargePending) as info:
        client.charge_billing_key(charge("pending-1"))
    assert info.value.payment.status == "ready"


@pytest.mark.parametrize("prefix", ["fault-drop-", "fault-500-x-"])
def test_a_lost_answer_is_reconciled_from_the_payment(client, prefix):
    client.issue_billing_key("uid", card())
    order = f"{prefix}1"

    if prefix == "fault-drop-":  # processed, then the connection reset: found paid
        result = client.charge_billing_key(charge(order))
        assert result.reconciled and result.payment.status == "paid"
    else:  # nothing processed: nothing found, unknown
        with pytest.raises(ChargeOutcomeUnknown):
            client.charge_billing_key(charge(order))


def test_a_charge_whose_answer_is_late_is_reconciled_then_replayed(client, v2):
    client.issue_billing_key("uid", card())
    slow = PortOneClient(
        v2.url,
        DEFAULT_API_SECRET,
        DEFAULT_STORE_ID,
        MemoryDirectory(),
        read_timeout=0.3,
    )
    with seeded("late"):
        # Processed at once, its answer held past the read timeout: found paid.
        first = slow.charge_billing_key(charge("fault-hang-1"))
        assert first.reconciled and first.payment.status == "paid"
        # The request resumed: looked up, not sent again.
        again = client.charge_billing_key(charge("fault-hang-1"), pending=True)
    assert again.replayed and again.payment == first.payment


def test_a_charge_the_pg_never_answers_is_pending_and_its_key_outstanding(client):
    client.issue_billing_key("uid", card())
    with seeded("never"):
        with pytest.raises(ChargePending) as info:
            client.charge_billing_key(charge("fault-ready-1"))
        assert info.value.reconciled
        # The same request sent again meanwhile: PortOne is still running it.
        with pytest.raises(ChargePending):
            client.charge_billing_key(charge("fault-ready-1"))


def test_a_cancel_refused_for_a_moved_balance_is_nothing_to_cancel(client):
    client.issue_billing_key("uid", card())
    paid = client.charge_billing_key(charge()).payment
    kept: list[int] = []
    client.cancel_payment(paid.imp_uid, "first", 100, keep_checksum=kept.append)

    # A retry of another cancel that read the balance before the first one went through.
    with pytest.raises(NothingToCancel):
        client.cancel_payment(paid.imp_uid, "second", 100, checksum=9900, since=0.0)


def test_a_retried_cancel_that_went_through_is_replayed(client):
    client.issue_billing_key("uid", card())
    paid = client.charge_billing_key(charge()).payment
    kept: list[int] = []
    began = time.time()
    with seeded("cancel-1"):
        client.cancel_payment(paid.imp_uid, "r", 100, keep_checksum=kept.append)
        again = client.cancel_payment(paid.imp_uid, "r", 100, checksum=kept[0], since=began)
    assert again.replayed and again.payment.cancel_amount == 100


def test_an_asynchronous_cancel_is_pending(client, v2):
    configure(v2, cancel_outcome="REQUESTED")
    client.issue_billing_key("uid", card())
    paid = client.charge_billing_key(charge()).payment

    with pytest.raises(CancelPending):
        client.cancel_payment(paid.imp_uid, "r")


def test_a_payment_of_another_attempt_is_not_shown_nor_cancelled(client, v2):
    configure(v2, failed_blocks_payment_id=False)
    client.issue_billing_key("uid", card(magic.DECLINING_CARD))
    with pytest.raises(CardDeclined) as info:
        client.charge_billing_key(charge())
    declined = info.value.payment
    assert declined is not None
    client.issue_billing_key("uid", card())
    paid = client.charge_billing_key(charge(), pending=True).payment

    assert paid.imp_uid != declined.imp_uid
    with pytest.raises(PaymentNotFound):
        client.get_payment(declined.imp_uid)
    with pytest.raises(NothingToCancel):
        client.cancel_payment(declined.imp_uid, "r")


def test_readiness_checks_the_secret(v2, directory):
    PortOneClient(v2.url, DEFAULT_API_SECRET, DEFAULT_STORE_ID, directory).check_ready()
    with pytest.raises(GatewayAuthFailed):
        PortOneClient(v2.url, "wrong", DEFAULT_STORE_ID, directory).check_ready()


def fault(v2: SandboxServer, route: str, name: str) -> None:
    body = {"route": route, "fault": name}
    response = urllib3.request("POST", f"{v2.url}/__sandbox__/faults", json=body, timeout=5)
    assert response.status == 200, response.data


CANCEL_ROUTE = "POST /payments/{paymentId}/cancel"


def paid_payment(client: PortOneClient):
    client.issue_billing_key("uid", card())
    return client.charge_billing_key(charge()).payment


def test_a_cancel_the_pg_refuses_is_refused_with_its_words(client, v2):
    paid = paid_payment(client)
    fault(v2, CANCEL_ROUTE, "pg_refusal")

    with pytest.raises(CancelRefused) as info:
        client.cancel_payment(paid.imp_uid, "r", 100)
    assert info.value.pg_code is not None


def test_a_cancel_the_pg_fails_is_refused(client, v2):
    configure(v2, cancel_outcome="FAILED")
    paid = paid_payment(client)

    with pytest.raises(CancelRefused):
        client.cancel_payment(paid.imp_uid, "r")


@pytest.mark.parametrize(("name", "found"), [("drop", True), ("lost", False), ("http_500", False)])
def test_a_cancel_whose_answer_is_lost_is_settled_from_the_payment(client, v2, name, found):
    paid = paid_payment(client)
    fault(v2, CANCEL_ROUTE, name)

    if found:  # processed, then the connection reset: in the payment's cancellations
        result = client.cancel_payment(paid.imp_uid, "r", 100)
        assert result.reconciled and result.payment.cancel_amount == 100
    else:
        with pytest.raises(CancelOutcomeUnknown):
            client.cancel_payment(paid.imp_uid, "r", 100)


def test_more_than_is_left_is_refused_before_anything_is_sent(client):
    paid = paid_payment(client)

    with pytest.raises(CancelExceedsBalance):
        client.cancel_payment(paid.imp_uid, "r", 10_000)


def test_a_key_older_than_portones_default_window_is_still_found(client, v2, directory):
    issued = client.issue_billing_key("uid", card())
    response = urllib3.request(
        "POST", f"{v2.url}/__sandbox__/clock", json={"advance": "P200D"}, timeout=5
    )
    assert response.status == 200
    directory.keys.clear()

    assert client.get_billing_key("uid").card_number == issued.card_number


def test_a_revoked_secret_is_an_auth_failure(client, v2):
    configure(v2, unauthorized=True)

    with pytest.raises(GatewayAuthFailed):
        client.check_ready()


def test_a_resumed_charge_portone_will_not_replay_is_an_unknown_outcome(client, v2):
    configure(v2, idempotency_mismatch="reject", failed_blocks_payment_id=False)
    client.issue_billing_key("uid", card(magic.DECLINING_CARD))
    with seeded("resumed"):
        with pytest.raises(CardDeclined):
            client.charge_billing_key(charge("o-9"))
        # The same key with another body (a key re-issued in between): PortOne's 400 is no
        # final refusal, and the decline found is the first attempt's, not this one's.
        client.issue_billing_key("uid", card())
        with pytest.raises(ChargeOutcomeUnknown):
            client.charge_billing_key(charge("o-9"), pending=True)


# Re-issuances that race, run late or lose a write never leave a replaced card current, and
# never delete the newest key (a cold review's reproductions).
OTHER_CARD = "5555555555554444"


def test_a_late_deletion_job_never_deletes_a_key_issued_after_its_own(client, directory):
    with seeded("i1"):
        client.issue_billing_key("uid", card())
    with seeded("i2"):
        k2 = client.issue_billing_key("uid", card(OTHER_CARD))
    with seeded("i3"):
        k3 = client.issue_billing_key("uid", card())

    # Issuance 2's job runs late, after issuance 3: only keys older than k2 go.
    client.delete_replaced_keys("uid", k2.provider_key)
    assert client.get_billing_key("uid").provider_key == k3.provider_key
    # Issuance 3's job on time, then issuance 2's retried: k3 stays, k2 goes.
    client.delete_replaced_keys("uid", k3.provider_key)
    assert client.delete_replaced_keys("uid", k2.provider_key) == []
    assert client.get_billing_key("uid").provider_key == k3.provider_key


def test_a_new_key_that_cannot_be_recorded_is_not_answered_and_its_retry_records_it(
    client, directory
):
    with seeded("i1"):
        client.issue_billing_key("uid", card())
    keep = directory.keep_billing_key
    directory.keep_billing_key = lambda *args: False  # the state store fails just then
    with seeded("i2"), pytest.raises(KeyNotRemembered):
        client.issue_billing_key("uid", card(OTHER_CARD))
    directory.keep_billing_key = keep

    with seeded("i2"):  # the caller's retry, same Idempotency-Key: PortOne replays the key
        k2 = client.issue_billing_key("uid", card(OTHER_CARD))
    assert client.get_billing_key("uid").provider_key == k2.provider_key
    with seeded("c1"):
        client.charge_billing_key(charge("o-after-retry"))
    assert directory.keys["uid"] == k2.provider_key


def test_an_issued_key_is_recorded_as_ours_before_it_is_answered(client, directory):
    """Issue 19: only payments on keys the service issued are its own (their webhooks)."""
    directory.keep_issued = lambda billing_key: False  # the state store fails just then
    with seeded("i1"), pytest.raises(KeyNotRemembered):
        client.issue_billing_key("uid", card())
    assert directory.keys == {}
    del directory.keep_issued

    with seeded("i1"):  # the caller's retry: PortOne replays the key, recorded now
        key = client.issue_billing_key("uid", card())
    assert directory.issued_keys == {key.provider_key}
    with seeded("c1"):
        payment = client.charge_billing_key(charge("o-ours")).payment
    assert payment.provider_key == key.provider_key
    assert client.issued_here(payment) is True
    directory.issued_keys.clear()  # a key issued before issuances were recorded: still named
    assert client.issued_here(payment) is True
    directory.keys.clear()  # named no more: another integration's, as far as the service knows
    assert client.issued_here(payment) is False
    directory.issued = lambda billing_key: None  # the state store cannot be read
    assert client.issued_here(payment) is None


def test_a_replayed_issuance_of_a_key_deleted_since_is_refused_and_changes_nothing(
    client, directory
):
    with seeded("req-a"):
        k1 = client.issue_billing_key("uid", card())  # its answer is lost: caller A retries
    with seeded("req-b"):
        k2 = client.issue_billing_key("uid", card(OTHER_CARD))
    assert client.delete_replaced_keys("uid", k2.provider_key) == [k1.provider_key]

    with seeded("req-a"), pytest.raises(UnexpectedResponse, match="no longer issued"):
        client.issue_billing_key("uid", card())  # PortOne replays k1, deleted since
    assert directory.keys["uid"] == k2.provider_key
    assert client.get_billing_key("uid").provider_key == k2.provider_key
