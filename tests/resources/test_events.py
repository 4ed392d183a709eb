"""GET /events and re-sends: operations data, behind the scope `events`, each prefix caller
seeing only its own customers' events, subscriber credentials never shown. Events come from real
charges against the sandbox; their deliveries are failed through the outbox's own consumer API."""

from __future__ import annotations

import base64

import pytest

from billing_service import create_app
from billing_service.events.outbox import EmbeddedOutbox, Outbox, SharedOutbox
from billing_service.extensions import shared

from ..support import NO_LIMITS, VALID_BODY, redis_url, service_env

SHOP, READER, OPS, ADMIN = "shop-secret", "reader-secret", "ops-secret", "admin-secret"
CALLERS = (
    f"shop:{SHOP}:issue+read+charge+events:prefix=shop_,reader:{READER}:read,"
    f"ops:{OPS}:events,admin:{ADMIN}"
)
# Credentials in the user info and the query, as some subscribers take them.
SECRET = "whsec_" + base64.b64encode(b"events-tests-secret-of-32-bytes!").decode()
SUBSCRIBER = "https://billing:s3cr3t-pass@orders.internal:8443/billing-events?token=t0k3n"


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def app(sandbox):
    env = service_env(
        sandbox.url,
        BILLING_API_KEYS=CALLERS,
        BILLING_EVENT_URLS=SUBSCRIBER,
        BILLING_EVENT_SECRET=SECRET,
        **NO_LIMITS,
    )
    return create_app(env)


def charge(client, customer_uid: str, merchant_uid: str) -> None:
    body = {**VALID_BODY, "customer_uid": customer_uid}
    assert client.post("/subscriptions/issue-billing", json=body, headers=auth(ADMIN)).status_code
    order = {"customer_uid": customer_uid, "merchant_uid": merchant_uid, "amount": 900}
    resp = client.post("/subscriptions/payments", json={**order, "name": "x"}, headers=auth(ADMIN))
    assert resp.status_code == 200


def fail_every_delivery(outbox: Outbox) -> None:
    """What the consumer records when a delivery ran out of retries."""
    for delivery in outbox.claim(100, lease_seconds=60):
        outbox.give_up(delivery, "HTTP 503")


@pytest.fixture
def events(app) -> dict[str, str]:
    """A failed payment.paid of shop_0001 and one of other_0001: event ids by customer."""
    client = app.test_client()
    charge(client, "shop_0001", "e-1")
    charge(client, "other_0001", "e-2")
    fail_every_delivery(shared(app).events.outbox)
    listed = client.get("/events", headers=auth(ADMIN)).get_json()["events"]
    ids = {e["event_id"]: e for e in listed}
    assert len(ids) == 2
    outbox = shared(app).events.outbox
    return {outbox.customer_of(event_id): event_id for event_id in ids}


def test_a_read_caller_is_refused_the_events(app, events):
    client = app.test_client()

    listed = client.get("/events", headers=auth(READER))
    resent = client.post(f"/events/{events['shop_0001']}/redeliver", headers=auth(READER))

    assert (listed.status_code, listed.get_json()["code"]) == (403, "forbidden")
    assert (resent.status_code, resent.get_json()["code"]) == (403, "forbidden")
    assert "'events' scope" in listed.get_json()["message"]
    # The scope `events` alone is enough, and a caller with no scopes listed has them all.
    assert len(client.get("/events", headers=auth(OPS)).get_json()["events"]) == 2
    assert len(client.get("/events", headers=auth(ADMIN)).get_json()["events"]) == 2


def test_a_prefix_caller_sees_and_resends_only_its_customers_events(app, events):
    client = app.test_client()

    listed = client.get("/events", headers=auth(SHOP)).get_json()["events"]
    others = client.post(f"/events/{events['other_0001']}/redeliver", headers=auth(SHOP))
    own = client.post(f"/events/{events['shop_0001']}/redeliver", headers=auth(SHOP))

    assert [e["event_id"] for e in listed] == [events["shop_0001"]]
    assert (others.status_code, others.get_json()["code"]) == (404, "event_not_found")
    assert (own.status_code, own.get_json()["redelivered"]) == (200, 1)
    # The other customer's event was left as it was: still failed.
    failed = app.test_client().get("/events?status=failed", headers=auth(ADMIN)).get_json()
    assert [e["event_id"] for e in failed["events"]] == [events["other_0001"]]


def test_subscriber_urls_are_listed_without_their_credentials(app, events):
    resp = app.test_client().get("/events", headers=auth(ADMIN))

    urls = {e["url"] for e in resp.get_json()["events"]}
    assert urls == {"https://orders.internal:8443/billing-events"}
    text = resp.get_data(as_text=True)
    assert "s3cr3t-pass" not in text and "t0k3n" not in text and "billing@" not in text


@pytest.fixture(params=["embedded", "redis"])
def make_outbox(request, tmp_path):
    """An outbox of each store, on the clock given."""
    if request.param == "embedded":
        yield lambda clock: EmbeddedOutbox(str(tmp_path / "state.db"), clock)
        return
    made: list[SharedOutbox] = []
    with redis_url() as url:
        yield lambda clock: made.append(SharedOutbox(url, clock)) or made[-1]
        for shared in made:
            shared.close()


def test_a_listing_keeps_the_newest_of_a_customer_behind_many_others(make_outbox):
    seconds = iter(range(1_000, 10_000))
    outbox = make_outbox(lambda: float(next(seconds)))  # each event a second after the last
    for n in range(3):
        payment = {"payment": {"customer_uid": f"shop_{n}", "imp_uid": f"imp_s{n}"}}
        outbox.add("payment.paid", payment, ["http://a"], dedup_key=f"s{n}")
    for n in range(150):  # newer, and all another customer's
        payment = {"payment": {"customer_uid": f"other_{n}", "imp_uid": f"imp_o{n}"}}
        outbox.add("payment.paid", payment, ["http://a"], dedup_key=f"o{n}")

    mine = outbox.records(None, limit=2, keep=lambda r: r.customer_uid.startswith("shop_"))
    everyone = outbox.records(None, limit=100)

    assert [r.customer_uid for r in mine] == ["shop_2", "shop_1"]
    assert len(everyone) == 100 and everyone[0].customer_uid == "other_149"
