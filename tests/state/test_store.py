"""Both state stores (SQLite, Redis): an idempotency record is written only by the attempt that
holds it, and an order lock is held by one owner until it is freed or its lease ends."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from billing_service.state import EmbeddedStore, SharedStore, StateStore
from billing_service.state.store import AttemptSuperseded

from ..support import redis_url


@pytest.fixture(params=["embedded", "shared"])
def store(request) -> Iterator[StateStore]:
    if request.param == "embedded":
        yield EmbeddedStore(tempfile.mkdtemp(prefix="billing-store-") + "/state.db")
        return
    with redis_url() as url:
        yield SharedStore(url)


def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


def test_a_save_by_an_attempt_whose_lease_was_taken_over_is_refused(store):
    first = store.claim("k", "fp", lease=0.2, ttl=60).record
    # The first attempt's process stalls past its lease: a retry takes the key over.
    until(lambda: store.claim("k", "fp", lease=60, ttl=60).outcome == "resume")
    taken_over = store.claim("k", "fp", lease=60, ttl=60)
    assert taken_over.outcome == "in_progress"

    with pytest.raises(AttemptSuperseded):
        store.save("k", replace(first, state="done", status=200, body='{"late": true}'))
    with pytest.raises(AttemptSuperseded):
        store.release("k", first.attempt)

    current = taken_over.record
    assert current.attempt != first.attempt and current.body is None
    store.save("k", replace(current, state="done", status=200, body='{"retry": true}'))
    assert store.claim("k", "fp", lease=60, ttl=60).record.body == '{"retry": true}'


def test_the_attempt_holding_a_record_saves_and_releases_it(store):
    record = store.claim("k", "fp", lease=60, ttl=60).record

    store.save("k", replace(record, checksum=9000))
    store.save("k", replace(record, state="retry", checksum=9000))
    resumed = store.claim("k", "fp", lease=60, ttl=60)
    assert resumed.outcome == "resume" and resumed.record.checksum == 9000
    store.release("k", resumed.record.attempt)
    assert store.claim("k", "fp", lease=60, ttl=60).outcome == "new"


def test_an_order_lock_has_one_holder_until_freed(store):
    assert store.lock("order:o-1", "a", lease=60) is None
    busy_until = store.lock("order:o-1", "b", lease=60)
    assert busy_until is not None and busy_until > time.time() + 50
    store.unlock("order:o-1", "b")  # not b's: nothing happens
    assert store.lock("order:o-1", "b", lease=60) is not None
    assert store.lock("order:o-2", "b", lease=60) is None  # another order

    store.unlock("order:o-1", "a")

    assert store.lock("order:o-1", "b", lease=60) is None


def test_an_order_lock_whose_holder_died_is_free_after_its_lease(store):
    assert store.lock("payment:imp-1", "dead", lease=0.2) is None
    assert store.lock("payment:imp-1", "alive", lease=60) is not None

    until(lambda: store.lock("payment:imp-1", "alive", lease=60) is None)

    assert store.lock("payment:imp-1", "dead", lease=60) is not None


def test_a_name_is_kept_replaced_and_dropped_only_while_it_names_that_value(store):
    assert store.get_name("customer:gildong") is None
    store.put_name("customer:gildong", "billing-key-1")
    store.put_name("customer:gildong", "billing-key-2")  # re-issued: the newer key
    assert store.get_name("customer:gildong") == "billing-key-2"

    store.drop_name("customer:gildong", "billing-key-1")  # the older key's deletion
    assert store.get_name("customer:gildong") == "billing-key-2"
    store.drop_name("customer:gildong", "billing-key-2")
    assert store.get_name("customer:gildong") is None


def test_a_name_with_a_ttl_is_forgotten_after_it(store):
    store.put_name("payment:imp_1", "order-1", ttl=0.2)
    assert store.get_name("payment:imp_1") == "order-1"
    until(lambda: store.get_name("payment:imp_1") is None)
