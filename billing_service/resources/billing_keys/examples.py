"""The OpenAPI examples of the billing-key operations."""

from __future__ import annotations

from typing import Any

ISSUE_EXAMPLE = {
    "card_number": "4242-4242-4242-4242",
    "expiry": "2035-12",
    "birth": "880101",
    "pwd_2digit": "12",
    "customer_uid": "gildong_0001_1234",
    "customer_name": "홍길동",
    "customer_email": "gildong@example.com",
}

BILLING_KEY_EXAMPLE = {
    "customer_uid": "gildong_0001_1234",
    "pg_provider": "nice",
    "pg_id": "nictest04m",
    "card_name": "현대카드",
    "card_code": "367",
    "card_number": "424242******4242",
    "card_type": "credit",
    "customer_name": "홍길동",
    "customer_email": "gildong@example.com",
    "customer_tel": None,
    "issued_at": "2026-11-27T09:00:00+00:00",
    "updated_at": "2026-11-27T09:00:00+00:00",
    "replaced": False,
    "provider": "iamport_v1",
}

ISSUED_EXAMPLE = {
    "status": "success",
    "message": "Billing has successfully issued",
    "billing_key": BILLING_KEY_EXAMPLE,
}

# A lookup's answer, and a deletion's (the deleted key).
KEY_ANSWER_EXAMPLE = {"status": "success", "billing_key": BILLING_KEY_EXAMPLE}

# What the issuance's errors add to their generic examples.
ISSUE_ERROR_EXAMPLES: dict[str, dict[str, Any]] = {"state_unavailable": {"retryable": True}}
