"""The OpenAPI examples of the schedule operations."""

from __future__ import annotations

from typing import Any

SCHEDULE_EXAMPLE = {
    "customer_uid": "gildong_0001_1234",
    "merchant_uid": "order_20270101_0001",
    "imp_uid": None,
    "schedule_at": "2027-01-01T00:00:00+00:00",
    "executed_at": None,
    "revoked_at": None,
    "amount": 9900,
    "name": "월간 구독 2027-01",
    "currency": "KRW",
    "schedule_status": "scheduled",
    "payment_status": None,
    "fail_reason": None,
}

SCHEDULE_REQUEST_EXAMPLE = {
    "customer_uid": "gildong_0001_1234",
    "schedules": [
        {
            "merchant_uid": "order_20270101_0001",
            "schedule_at": "2027-01-01T09:00:00+09:00",
            "amount": 9900,
            "name": "월간 구독 2027-01",
        },
        {
            "merchant_uid": "order_20270201_0001",
            "schedule_at": "2027-02-01T09:00:00+09:00",
            "amount": 9900,
            "name": "월간 구독 2027-02",
        },
    ],
}

SCHEDULED_EXAMPLE = {
    "status": "success",
    "schedules": [SCHEDULE_EXAMPLE],
    "replayed": False,
    "reconciled": False,
}

# What scheduling's errors add to their generic examples.
SCHEDULE_ERROR_EXAMPLES: dict[str, dict[str, Any]] = {"state_unavailable": {"retryable": True}}

SCHEDULE_ANSWER_EXAMPLE = {"status": "success", "schedule": SCHEDULE_EXAMPLE}

REVOKED_EXAMPLE = {
    "status": "success",
    "schedule": {
        **SCHEDULE_EXAMPLE,
        "schedule_status": "revoked",
        "revoked_at": "2026-12-01T09:00:00+00:00",
    },
}

SCHEDULE_LIST_EXAMPLE = {"status": "success", "schedules": [SCHEDULE_EXAMPLE], "complete": True}

# Revoking all of a key's schedules when none was left.
ALL_REVOKED_EXAMPLE = {"status": "success", "schedules": []}
