"""The outbox and its consumer: signed events over real HTTP to local subscribers, on both
outboxes (SQLite and Redis); every wait is on what a subscriber or the consumer reported."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis as redis_client
from standardwebhooks import Webhook, WebhookVerificationError

from billing_service import create_app
from billing_service.events import EventConsumer, check_secret
from billing_service.events import delivery as delivery_module
from billing_service.events.outbox import (
    DELIVERY,
    Delivery,
    EmbeddedOutbox,
    Outbox,
    SharedOutbox,
)
from billing_service.events.outbox import embedded as embedded_outbox
from billing_service.events.outbox import shared as shared_outbox
from billing_service.extensions import shared
from billing_service.state import StateUnavailable

from ..support import CALLER_KEY, RedisServer, free_port, redis_url, service_env

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
WAIT = 5.0  # the deadline of every wait


class Subscriber:
    """An internal service receiving events: verifies each one's signature and records it;
    answers the statuses queued in ``answers`` first, then 200."""

    def __init__(self, port: int = 0, answers: tuple[int, ...] = ()) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers = list(answers)
        self._changed = threading.Condition()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(SECRET).verify(body, headers)
                    verified = True
                except (WebhookVerificationError, ValueError, binascii.Error):
                    verified = False
                with subscriber._changed:
                    status = subscriber.answers.pop(0) if subscriber.answers else 200
                    status = status if verified else 400
                    subscriber.requests.append(
                        {"headers": headers, "body": body, "verified": verified, "at": time.time()}
                    )
                    subscriber._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/events?token=t0ken"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        with self._changed:
            got = self._changed.wait_for(lambda: len(self.requests) >= count, WAIT)
            assert got, f"{len(self.requests)} requests came, not {count}"
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Outcomes:
    """What the consumer told on_outcome, to wait on."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = threading.Condition()

    def __call__(self, outcome: str) -> None:
        with self._changed:
            self.seen.append(outcome)
            self._changed.notify_all()

    def wait_for(self, outcome: str, count: int = 1) -> None:
        with self._changed:
            got = self._changed.wait_for(lambda: self.seen.count(outcome) >= count, WAIT)
            assert got, f"not {count} x {outcome}: {self.seen}"


class Flaky:
    """An outbox that fails (StateUnavailable) while ``down`` is set; ``failed`` is set once it
    has failed a call."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self.down = threading.Event()
        self.failed = threading.Event()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._outbox, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down.is_set():
                self.failed.set()
                raise StateUnavailable("down")
            try:
                return method(*args, **kwargs)
            except StateUnavailable:
                self.failed.set()
                raise

        return call


@pytest.fixture(scope="module")
def redis_server_url() -> Iterator[str]:
    with redis_url() as url:
        yield url


@pytest.fixture(params=["embedded", "redis"])
def make_outbox(request, tmp_path) -> Callable[..., Outbox]:
    """Outboxes of one store (each test its own), with an optional clock and retention."""
    if request.param == "embedded":
        path = str(tmp_path / "state.db")
        return lambda clock=time.time, **options: EmbeddedOutbox(path, clock, **options)
    url = request.getfixturevalue("redis_server_url")
    with redis_client.Redis.from_url(url) as client:
        client.flushdb()
    made: list[SharedOutbox] = []
    request.addfinalizer(lambda: [outbox.close() for outbox in made])

    def make(clock: Callable[[], float] = time.time, **options: Any) -> SharedOutbox:
        made.append(SharedOutbox(url, clock, **options))
        return made[-1]

    return make


@pytest.fixture
def outbox(make_outbox) -> Outbox:
    return make_outbox()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(port: int = 0, answers: tuple[int, ...] = ()) -> Subscriber:
        made.append(Subscriber(port, answers))
        return made[-1]

    yield make
    for subscriber in made:
        subscriber.close()


@pytest.fixture
def consumers() -> Iterator[Callable[..., EventConsumer]]:
    """Started consumers (lease 3 s, attempts of at most 1 s), stopped after the test."""
    made: list[EventConsumer] = []

    def make(outbox: Outbox, **options: Any) -> EventConsumer:
        settings: dict[str, Any] = {
            "secret": SECRET,
            "delays": (0.1, 0.1),
            "lease_seconds": 3.0,
            "timeout": 1.0,
        }
        consumer = EventConsumer(outbox, **(settings | options))
        consumer.start()
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.stop(5)


def add(outbox: Outbox, urls: list[str], key: str = "pay_1:paid", **options: Any) -> str:
    event_id = outbox.add("payment.paid", {"imp_uid": "imp_1"}, urls, dedup_key=key, **options)
    assert event_id is not None
    return event_id


def test_an_event_reaches_each_subscriber_once_signed(outbox, subscribers, consumers):
    first, second = subscribers(), subscribers()
    outcomes = Outcomes()
    event_id = add(outbox, [first.url, second.url])
    consumer = consumers(outbox, on_outcome=outcomes)
    consumer.wake()

    outcomes.wait_for("delivered", 2)
    consumer.stop(5)
    for subscriber in (first, second):
        [request] = subscriber.wait_for(1)
        assert request["verified"]
        headers = request["headers"]
        assert headers["webhook-id"] == event_id
        assert headers["content-type"] == "application/json"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
        body = json.loads(request["body"])
        assert body["type"] == "payment.paid"
        assert body["data"] == {"imp_uid": "imp_1"}
        assert body["timestamp"].endswith("Z")
        assert len(subscriber.requests) == 1
    assert first.requests[0]["body"] == second.requests[0]["body"]
    assert event_id.startswith("evt_") and len(event_id) == 28
    delivered = outbox.records("delivered")
    assert {(r.event_id, r.url) for r in delivered} == {
        (event_id, first.url),
        (event_id, second.url),
    }
    assert all(r.attempts == 1 and r.delivered_at and r.last_error is None for r in delivered)
    assert outbox.counts() == {"pending": 0, "delivered": 2, "failed": 0}
    assert outbox.next_due() is None


def test_the_same_dedup_key_makes_one_event(outbox):
    event_id = add(outbox, ["http://127.0.0.1:1/a"])
    assert outbox.add("payment.paid", {}, ["http://127.0.0.1:1/a"], dedup_key="pay_1:paid") is None
    other = add(outbox, ["http://127.0.0.1:1/a"], key="pay_1:cancelled")

    assert other != event_id
    assert outbox.counts() == {"pending": 2, "delivered": 0, "failed": 0}
    assert {r.event_id for r in outbox.records(None)} == {event_id, other}


def test_a_subscriber_down_gets_the_event_after_a_retry(outbox, subscribers, consumers):
    port = free_port()  # nothing listens there yet: connection refused
    outcomes = Outcomes()
    event_id = add(outbox, [f"http://127.0.0.1:{port}/events"])
    consumers(outbox, delays=(0.3,), on_outcome=outcomes)

    outcomes.wait_for("retry")
    failed_at = time.time()
    [record] = outbox.records("pending")
    assert (record.attempts, record.last_error) == (1, "connection failed")
    subscriber = subscribers(port)

    [request] = subscriber.wait_for(1)
    outcomes.wait_for("delivered")
    assert request["verified"]
    assert request["headers"]["webhook-id"] == event_id
    assert int(request["headers"]["webhook-timestamp"]) >= int(failed_at)  # signed when sent
    assert [r.attempts for r in outbox.records("delivered")] == [2]


def test_failed_after_the_delays_run_out_then_redelivered(outbox, subscribers, consumers):
    subscriber = subscribers(answers=(503, 503, 503))
    outcomes = Outcomes()
    event_id = add(outbox, [subscriber.url])
    consumer = consumers(outbox, delays=(0.1, 1.0), on_outcome=outcomes)

    outcomes.wait_for("failed")
    [record] = outbox.records("failed")
    assert (record.event_id, record.attempts, record.last_error) == (event_id, 3, "HTTP 503")
    assert record.next_attempt_at is None
    assert outbox.counts() == {"pending": 0, "delivered": 0, "failed": 1}
    requests = subscriber.wait_for(3)
    assert [r["headers"]["webhook-id"] for r in requests] == [event_id] * 3
    assert all(r["verified"] for r in requests)
    stamps = [int(r["headers"]["webhook-timestamp"]) for r in requests]
    assert stamps[2] > stamps[0]  # re-signed at each attempt, 1.1 s apart

    assert outbox.redeliver(event_id) == 1
    assert outbox.redeliver(event_id) == 0  # nothing failed any more
    consumer.wake()
    outcomes.wait_for("delivered")
    assert subscriber.wait_for(4)[3]["headers"]["webhook-id"] == event_id
    [record] = outbox.records("delivered")
    assert record.attempts == 1  # reset by the redelivery
    assert outcomes.seen == ["retry", "retry", "failed", "delivered"]


def test_gone_gives_up_at_once(outbox, subscribers, consumers):
    subscriber = subscribers(answers=(410,))
    outcomes = Outcomes()
    add(outbox, [subscriber.url])
    consumers(outbox, on_outcome=outcomes)

    outcomes.wait_for("failed")
    [record] = outbox.records("failed")
    assert (record.attempts, record.last_error) == (1, "HTTP 410")
    assert len(subscriber.requests) == 1


def test_a_delivery_whose_consumer_died_is_sent_after_its_lease(outbox, subscribers, consumers):
    subscriber = subscribers()
    event_id = add(outbox, [subscriber.url])
    [died] = outbox.claim(16, 0.5)  # claimed, and never completed
    claimed_at = time.time()
    assert died.attempts == 0 and outbox.claim(16, 0.5) == []

    outcomes = Outcomes()
    consumers(outbox, on_outcome=outcomes)
    [request] = subscriber.wait_for(1)
    outcomes.wait_for("delivered")
    assert request["at"] >= claimed_at + 0.4  # not before the lease ended
    assert request["headers"]["webhook-id"] == event_id
    [record] = outbox.records("delivered")
    assert record.attempts == 2
    outbox.give_up(died, "timeout")  # the dead attempt, completing late, changes nothing
    assert outbox.counts()["delivered"] == 1


def test_a_stale_lease_cannot_overwrite_the_newer_state(make_outbox):
    now = [1_000_000.0]
    outbox = make_outbox(lambda: now[0])
    event_id = add(outbox, ["http://127.0.0.1:1/a"])
    [stale] = outbox.claim(16, 10)
    [record] = outbox.records("pending")
    assert record.next_attempt_at == now[0] + 10
    now[0] += 11  # the lease ended: another consumer claims it
    [fresh] = outbox.claim(16, 10)
    assert (fresh.event_id, fresh.attempts) == (event_id, 1) and fresh.lease != stale.lease

    outbox.give_up(stale, "timeout")
    outbox.delivered(stale)
    assert outbox.counts() == {"pending": 1, "delivered": 0, "failed": 0}
    outbox.retry_at(fresh, now[0] + 5, "HTTP 503")
    outbox.retry_at(fresh, now[0] + 99, "HTTP 500")  # its lease is spent: ignored
    [record] = outbox.records("pending")
    assert (record.next_attempt_at, record.last_error, record.attempts) == (
        now[0] + 5,
        "HTTP 503",
        2,
    )
    assert outbox.next_due() == now[0] + 5
    assert outbox.claim(16, 10) == []
    now[0] += 5
    [third] = outbox.claim(16, 10)
    outbox.delivered(third)
    outbox.give_up(fresh, "late")
    [record] = outbox.records("delivered")
    assert record.delivered_at == now[0] and record.last_error is None
    assert outbox.records("failed") == [] and outbox.records("pending") == []


def test_a_delivery_can_be_due_later(make_outbox):
    now = [1_000_000.0]
    outbox = make_outbox(lambda: now[0])
    add(outbox, ["http://127.0.0.1:1/a"], due_at=now[0] + 60)
    assert outbox.claim(16, 10) == []
    assert outbox.next_due() == now[0] + 60
    now[0] += 60
    assert len(outbox.claim(16, 10)) == 1


def test_jobs_go_to_the_handler_of_their_kind(outbox, consumers):
    answers = [False, True]
    handled: list[Delivery] = []

    def handler(delivery: Delivery) -> bool:
        handled.append(delivery)
        return answers.pop(0)

    outcomes = Outcomes()
    event_id = outbox.add_job("check", {"imp_uid": "imp_1"}, dedup_key="check:1")
    assert event_id is not None
    consumers(outbox, handlers={"check": handler}, on_outcome=outcomes)

    outcomes.wait_for("delivered")
    assert outcomes.seen == ["retry", "delivered"]
    assert [d.event_id for d in handled] == [event_id, event_id]


def test_jobs_are_kept_apart_from_deliveries(outbox):
    event_id = add(outbox, ["http://a.test/e"])
    job_id = outbox.add_job("check", {"imp_uid": "imp_1"}, dedup_key="check:1")
    with pytest.raises(ValueError):
        outbox.add_job(DELIVERY, {}, dedup_key="check:2")

    listed = {(r.event_id, r.kind, r.url) for r in outbox.records(None)}
    claimed = {(d.event_id, d.kind, d.url) for d in outbox.claim(16, 10)}
    assert listed == claimed == {(event_id, DELIVERY, "http://a.test/e"), (job_id, "check", "")}


# The outbox's tables before jobs had a kind: a job's kind was its URL, "internal:<kind>".
_TABLES_BEFORE_KINDS = (
    "CREATE TABLE outbox_events (event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, "
    "body BLOB NOT NULL, created_at REAL NOT NULL)",
    "CREATE TABLE outbox_deliveries (event_id TEXT NOT NULL, url TEXT NOT NULL, "
    "status TEXT NOT NULL, attempts INTEGER NOT NULL, due_at REAL, lease TEXT, "
    "last_error TEXT, delivered_at REAL, PRIMARY KEY (event_id, url))",
)


def test_a_job_kept_before_jobs_had_a_kind_is_run_as_its_kind_embedded(tmp_path):
    path, now = str(tmp_path / "state.db"), time.time()
    with sqlite3.connect(path) as db:
        for statement in _TABLES_BEFORE_KINDS:
            db.execute(statement)
        db.execute(
            "INSERT INTO outbox_events VALUES ('evt_old', 'internal.follow-up', ?, ?)",
            (b'{"type":"internal.follow-up","data":{}}', now),
        )
        db.execute(
            "INSERT INTO outbox_deliveries (event_id, url, status, attempts, due_at) "
            "VALUES ('evt_old', 'internal:follow-up', 'pending', 0, ?)",
            (now,),
        )
    db.close()
    outbox = EmbeddedOutbox(path)

    (job,) = outbox.claim(16, 10)
    assert (job.event_id, job.kind) == ("evt_old", "follow-up")
    outbox.delivered(job)
    assert [(r.kind, r.status) for r in outbox.records(None)] == [("follow-up", "delivered")]


def test_a_job_kept_before_jobs_had_a_kind_is_run_as_its_kind_shared(redis_server_url):
    with redis_client.Redis.from_url(redis_server_url) as client:
        client.flushdb()
        outbox = SharedOutbox(redis_server_url)
        # As it was kept then: a delivery to that URL, its hash without a kind.
        event_id = outbox.add("internal.follow-up", {}, ["internal:follow-up"], dedup_key="old")
        (key,) = client.keys("billing:outbox:delivery:*")
        client.hdel(key, "kind")
        try:
            (job,) = outbox.claim(16, 10)
            assert (job.event_id, job.kind) == (event_id, "follow-up")
            outbox.delivered(job)
            assert [(r.kind, r.status) for r in outbox.records(None)] == [
                ("follow-up", "delivered")
            ]
        finally:
            outbox.close()


def test_alive_until_stopped(outbox, consumers):
    consumer = consumers(outbox)
    assert consumer.started and consumer.alive()
    consumer.stop(5)
    assert not consumer.alive() and not consumer.started


def test_the_consumer_survives_outbox_failures(outbox, subscribers, consumers):
    flaky = Flaky(outbox)
    flaky.down.set()
    outcomes = Outcomes()
    consumer = consumers(flaky, on_outcome=outcomes)
    assert flaky.failed.wait(WAIT)
    assert consumer.alive()

    subscriber = subscribers()
    flaky.down.clear()
    add(outbox, [subscriber.url])
    consumer.wake()
    outcomes.wait_for("delivered")
    assert subscriber.wait_for(1)[0]["verified"]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_consumer_survives_redis_going_away(subscribers, consumers):
    server = RedisServer()
    shared = SharedOutbox(server.url)
    outbox = Flaky(shared)
    outcomes = Outcomes()
    consumer = consumers(outbox, on_outcome=outcomes)
    server.stop()
    try:
        assert outbox.failed.wait(WAIT)
        assert consumer.alive()
        server = RedisServer(server.port)  # back, empty (no persistence here)
        subscriber = subscribers()
        add(outbox, [subscriber.url])
        consumer.wake()
        outcomes.wait_for("delivered")
        assert subscriber.wait_for(1)[0]["verified"]
    finally:
        consumer.stop(5)
        shared.close()
        server.stop()


def test_the_secret_must_be_a_standard_webhooks_secret():
    check_secret(SECRET)
    check_secret(SECRET.rstrip("="))  # unpadded base64 too
    for bad in (
        "",
        "secret",
        "whsec_",
        "whsec_!!!!",
        "whsec_" + base64.b64encode(b"x" * 8).decode(),
    ):
        with pytest.raises(ValueError) as caught:
            check_secret(bad)
        assert bad[6:] not in str(caught.value) or not bad[6:]
    with pytest.raises(ValueError):
        EventConsumer(Flaky(None), secret="nope", delays=(), lease_seconds=60)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EventConsumer(Flaky(None), secret=SECRET, delays=(), lease_seconds=10, timeout=30)  # type: ignore[arg-type]


def test_a_subscriber_trickling_its_headers_is_cut_at_the_timeout(
    outbox, subscribers, consumers, canned
):
    # Its status line and headers, a byte every 0.05 s, would take over 6 s; each byte comes
    # well within urllib3's timeout, so only a deadline on the whole attempt cuts it.
    canned.add(200, {}, trickle_headers=True)
    slow = add(outbox, [canned.url + "/events"], key="slow")
    subscriber = subscribers()
    add(outbox, [subscriber.url], key="next")
    outcomes = Outcomes()
    started = time.monotonic()
    consumers(outbox, delays=(60.0,), on_outcome=outcomes)

    [request] = subscriber.wait_for(1)  # the next delivery goes on

    assert time.monotonic() - started < 2.5  # one attempt's timeout (1 s), not the 6 s
    assert json.loads(request["body"])["data"] == {"imp_uid": "imp_1"}
    outcomes.wait_for("retry")
    outcomes.wait_for("delivered")
    [record] = outbox.records("pending")
    assert (record.event_id, record.last_error) == (slow, "timeout")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_ended_deliveries_are_kept_for_the_retention_then_unlisted_and_pruned(make_outbox):
    clock = Clock()
    outbox = make_outbox(clock, retention=100.0)
    ended = add(outbox, ["http://a.test/e", "http://b.test/e"], key="ended")
    redelivered = add(outbox, ["http://c.test/e"], key="redelivered")
    retried = add(outbox, ["http://d.test/e"], key="retried")
    for d in outbox.claim(10, 30):
        if d.url == "http://a.test/e":
            outbox.delivered(d)
        elif d.url == "http://d.test/e":
            outbox.retry_at(d, clock.now + 500, "HTTP 503")
        else:
            outbox.give_up(d, "HTTP 410")
    assert outbox.redeliver(redelivered) == 1  # pending again: kept until it ends
    clock.now += 99

    assert outbox.prune() == 0
    assert len(outbox.records(None)) == 4
    clock.now += 1

    assert {(r.event_id, r.status) for r in outbox.records(None)} == {
        (redelivered, "pending"),
        (retried, "pending"),
    }
    assert outbox.records("delivered") == [] and outbox.records("failed") == []
    assert outbox.prune() == 2
    assert outbox.prune() == 0
    assert outbox.counts() == {"pending": 2, "delivered": 0, "failed": 0}
    assert outbox.redeliver(ended) == 0
    [d] = outbox.claim(10, 30)  # the redelivered one, due now; the retried one is due later
    outbox.delivered(d)
    assert outbox.prune() == 1  # its event is past the retention: it goes once it ended


def test_a_prune_deletes_one_batch_at_most(make_outbox, monkeypatch):
    for module in (embedded_outbox, shared_outbox):
        monkeypatch.setattr(module, "PRUNE_BATCH", 2)
    clock = Clock()
    outbox = make_outbox(clock, retention=10.0)
    add(outbox, ["http://a.test/e", "http://b.test/e"], key="one")
    add(outbox, ["http://c.test/e"], key="two")
    for d in outbox.claim(10, 30):
        if d.url == "http://b.test/e":
            outbox.give_up(d, "HTTP 410")
        else:
            outbox.delivered(d)
    clock.now += 10

    assert [outbox.prune(), outbox.prune(), outbox.prune()] == [2, 1, 0]
    assert outbox.counts() == {"pending": 0, "delivered": 0, "failed": 0}


def test_the_consumer_prunes_what_is_past_the_retention(
    make_outbox, subscribers, consumers, monkeypatch
):
    monkeypatch.setattr(delivery_module, "PRUNE_EVERY_S", 0.1)
    outbox = make_outbox(retention=0.5)
    subscriber = subscribers()
    outcomes = Outcomes()
    add(outbox, [subscriber.url])
    consumers(outbox, on_outcome=outcomes)
    outcomes.wait_for("delivered")

    deadline = time.monotonic() + WAIT
    while outbox.counts()["delivered"] and time.monotonic() < deadline:
        time.sleep(0.05)

    assert outbox.counts() == {"pending": 0, "delivered": 0, "failed": 0}
    assert len(subscriber.requests) == 1


def test_a_delivered_event_leaves_the_listing_once_its_retention_ends(sandbox, subscribers):
    subscriber = subscribers()
    env = service_env(
        sandbox.url,
        BILLING_EVENT_URLS=subscriber.url,
        BILLING_EVENT_SECRET=SECRET,
        BILLING_EVENT_RETENTION="2",
    )
    app = create_app(env)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"
    events = shared(app).events
    event_id = add(events.outbox, [subscriber.url])
    events.consumer.start()
    try:
        subscriber.wait_for(1)
        deadline = time.monotonic() + 15
        listed = client.get("/events").get_json()["events"]
        while listed and listed[0]["status"] != "delivered" and time.monotonic() < deadline:
            listed = client.get("/events").get_json()["events"]
        assert [(e["event_id"], e["status"]) for e in listed] == [(event_id, "delivered")]

        # Gone within 15 s after its retention (2 s) ends.
        while listed and time.monotonic() < deadline + 2:
            time.sleep(0.1)
            listed = client.get("/events").get_json()["events"]
        assert listed == []
    finally:
        events.consumer.stop(5)
