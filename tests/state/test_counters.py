"""The in-process rate-limit storage: fixed windows that end on time and never pile up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from limits import RateLimitItemPerHour
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from billing_service.state import EmbeddedStore, SharedStore
from billing_service.state.counters import FixedWindowCounters
from billing_service.state.store import Hit

from ..support import redis_url


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_counts_until_it_ends_then_starts_again():
    clock = Clock()
    counters = FixedWindowCounters(clock=clock)

    assert [counters.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert counters.get("k") == 3 and counters.get_expiry("k") == clock.now + 60
    clock.now += 59.9
    assert counters.incr("k", 60) == 4
    clock.now += 0.1

    assert counters.get("k") == 0
    assert counters.incr("k", 60) == 1
    assert counters.get_expiry("k") == clock.now + 60


def test_ended_windows_are_dropped_not_kept():
    clock = Clock()
    counters = FixedWindowCounters(clock=clock)
    for n in range(10_000):
        counters.incr(f"customer-{n}", 3600)
    clock.now += 3600

    counters.incr("fresh", 3600)

    assert counters.reset() == 1  # only "fresh" was left


def test_a_cleared_and_reopened_window_survives_its_old_end():
    clock = Clock()
    counters = FixedWindowCounters(clock=clock)
    counters.incr("k", 60)
    counters.clear("k")
    clock.now += 30
    counters.incr("k", 60)
    clock.now += 31  # past the first window's end, inside the second's

    assert counters.incr("other", 60) == 1
    assert counters.get("k") == 1


def test_limits_refuses_past_the_limit_through_its_uri():
    limiter = FixedWindowRateLimiter(storage_from_string("billing-fixed-window-memory://"))
    limit = RateLimitItemPerHour(2)

    assert [limiter.hit(limit, "caller") for _ in range(3)] == [True, True, False]
    assert limiter.hit(limit, "another caller")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def counters(request, tmp_path) -> Iterator[Any]:
    if request.param == "memory":
        yield FixedWindowCounters()
    elif request.param == "sqlite":
        yield EmbeddedStore(str(tmp_path / "state.db"))
    else:
        with redis_url() as url:
            yield SharedStore(url)


def test_hit_all_counts_every_window_or_none(counters):
    card, customer = Hit("card", 2, 3600), Hit("customer", 3, 60)

    assert counters.hit_all([card, customer]) is None
    assert counters.hit_all([card, customer]) is None
    refused = counters.hit_all([customer, card])

    assert refused is not None and refused.hit == card and 3500 < refused.retry_after <= 3600
    assert (counters.get("card"), counters.get("customer")) == (2, 2)  # nothing counted
    assert counters.hit_all([customer]) is None


def test_a_refund_takes_one_attempt_back_and_never_goes_below_zero(counters):
    hit = Hit("card", 1, 3600)
    assert counters.hit_all([hit]) is None
    assert counters.hit_all([hit]) is not None

    counters.refund(["card", "never-hit"])
    counters.refund(["card"])

    assert counters.get("card") == 0 and counters.get("never-hit") == 0
    assert counters.hit_all([hit]) is None
    assert counters.hit_all([hit]) is not None


def test_a_check_only_hit_refuses_when_full_and_counts_nothing(counters):
    # The refusal budget: checked with the limits, counted only when the answer is a 402.
    budget, card = Hit("refusals", 1, 3600, counts=False), Hit("card", 5, 3600)

    assert counters.hit_all([budget, card]) is None
    assert (counters.get("refusals"), counters.get("card")) == (0, 1)
    counters.incr("refusals", 3600)
    refused = counters.hit_all([budget, card])

    assert refused is not None and refused.hit == budget
    assert counters.get("card") == 1  # a caller out of its budget spends no limit
