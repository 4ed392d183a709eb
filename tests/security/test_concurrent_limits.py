"""The card-testing limits under concurrency: checked and counted before the request, so
however many attempts run at once, at most the limit reaches I'mport."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing_service import create_app
from billing_service.extensions import shared

from ..support import FINGERPRINT_KEY, ISSUE_ROUTE, VALID_BODY, redis_url, service_env

ISSUE = "/subscriptions/issue-billing"
ATTEMPTS = 60
PER_CARD = 30


@pytest.fixture(params=["sqlite", "redis"])
def state_url(request) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None  # the embedded store, in the service's data directory
    else:
        with redis_url() as url:
            yield url


def test_concurrent_issuances_with_one_card_reach_iamport_at_most_the_limit(sandbox, state_url):
    # Each I'mport answer takes 0.3 s: every attempt is in flight before the first is answered.
    sandbox.admin("POST", "config", latency_ms=300)
    env = service_env(
        sandbox.url,
        BILLING_CARD_FINGERPRINT_KEY=FINGERPRINT_KEY,
        BILLING_LIMIT_ISSUE_PER_CARD=f"{PER_CARD}/hour",
        **({"BILLING_STATE_URL": state_url} if state_url else {}),
    )
    app = create_app(env)
    # The database made (WAL) before the burst, as a running service's readiness checks make it:
    # 60 threads creating one new SQLite file at once can wait past its busy timeout (503).
    shared(app).state.check()
    headers = {"Authorization": "Bearer test-caller-key-checkout"}

    def attempt(n: int) -> int:
        body = {**VALID_BODY, "customer_uid": f"concurrent-{n}"}
        return app.test_client().post(ISSUE, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        statuses = list(pool.map(attempt, range(ATTEMPTS)))

    assert sandbox.count(ISSUE_ROUTE) <= PER_CARD
    assert statuses.count(200) == sandbox.count(ISSUE_ROUTE) > 0
    assert statuses.count(429) == ATTEMPTS - statuses.count(200)


def test_an_attempt_refused_for_its_own_faults_gives_its_count_back_under_concurrency(sandbox):
    # Invalid attempts among valid ones: the valid ones still get the whole limit.
    sandbox.admin("POST", "config", latency_ms=100)
    env = service_env(sandbox.url, BILLING_LIMIT_ISSUE_PER_CARD="5/hour")
    app = create_app(env)
    headers = {"Authorization": "Bearer test-caller-key-checkout"}

    def attempt(n: int) -> int:
        body = {**VALID_BODY, "customer_uid": f"mixed-{n}"}
        if n % 2:
            body["expiry"] = "1999-01"  # refused with 422, nothing sent
        return app.test_client().post(ISSUE, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(attempt, range(10)))

    # An invalid attempt holding a count for a moment may be refused (429) instead of 422.
    assert set(statuses) <= {200, 422, 429} and 422 in statuses
    assert sandbox.count(ISSUE_ROUTE) == statuses.count(200) <= 5
    later = {**VALID_BODY, "customer_uid": "mixed-later"}
    remaining = 5 - statuses.count(200)
    for _ in range(remaining):
        assert app.test_client().post(ISSUE, json=later, headers=headers).status_code == 200
    assert app.test_client().post(ISSUE, json=later, headers=headers).status_code == 429
