"""The OpenAPI examples of the payment operations."""

from __future__ import annotations

from typing import Any

PAYMENT_EXAMPLE = {
    "imp_uid": "imps_410026135413",
    "merchant_uid": "order_20261127_0001",
    "customer_uid": "gildong_0001_1234",
    "status": "paid",
    "amount": 9900,
    "cancel_amount": 0,
    "currency": "KRW",
    "name": "월간 구독",
    "paid_at": "2026-11-27T09:00:00+00:00",
    "failed_at": None,
    "cancelled_at": None,
    "fail_reason": None,
    "card_name": "현대카드",
    "card_number": "424242******4242",
    "apply_num": "30016714",
    "receipt_url": "https://npg.nicepay.co.kr/issue/IssueLoader.do?TID=nictest04m",
    "pg_provider": "nice",
    "sandbox": False,
    "cancel_history": [],
    "provider": "iamport_v1",
}


def _charged(*, replayed: bool = False, reconciled: bool = False) -> dict[str, Any]:
    return {
        "status": "success",
        "payment": PAYMENT_EXAMPLE,
        "replayed": replayed,
        "reconciled": reconciled,
    }


CHARGE_EXAMPLE = {
    "customer_uid": "gildong_0001_1234",
    "merchant_uid": "order_20261127_0001",
    "amount": 9900,
    "name": "월간 구독",
}

CHARGED_EXAMPLES = {
    "paid": {"value": _charged()},
    "replayed": {
        "summary": "The same charge sent again: answered, not charged twice",
        "value": _charged(replayed=True),
    },
    "reconciled": {
        "summary": "PortOne's answer was lost; the payment was found paid",
        "value": _charged(reconciled=True),
    },
}

# A 202: I'mport left the charge ready.
PENDING_EXAMPLE = {
    "status": "pending",
    "payment": {
        **PAYMENT_EXAMPLE,
        "status": "ready",
        "paid_at": None,
        "apply_num": None,
        "receipt_url": None,
    },
    "replayed": False,
    "reconciled": False,
}

# What the charge's errors add to their generic examples.
CHARGE_ERROR_EXAMPLES: dict[str, dict[str, Any]] = {
    "card_declined": {
        "message": "[8326]카드 한도초과",
        "payment": {
            **PAYMENT_EXAMPLE,
            "status": "failed",
            "paid_at": None,
            "failed_at": "2026-11-27T09:00:00+00:00",
            "fail_reason": "[8326]카드 한도초과",
            "apply_num": None,
        },
    },
    "gateway_timeout": {
        "message": "The charge was sent but its outcome is unknown; "
        "retry with the same merchant_uid.",
        "retryable": True,
    },
    "state_unavailable": {"retryable": True},
}

CANCEL_EXAMPLE = {"reason": "고객 요청에 의한 환불"}

CANCELLED_EXAMPLE = {
    "status": "success",
    "payment": {
        **PAYMENT_EXAMPLE,
        "status": "cancelled",
        "cancel_amount": 9900,
        "cancelled_at": "2026-11-28T09:00:00+00:00",
        "cancel_history": [
            {
                "amount": 9900,
                "cancelled_at": "2026-11-28T09:00:00+00:00",
                "reason": "고객 요청에 의한 환불",
            }
        ],
    },
    "replayed": False,
    "reconciled": False,
}

# What the cancel's errors add to their generic examples.
CANCEL_ERROR_EXAMPLES: dict[str, dict[str, Any]] = {
    "cancel_refused": {
        "message": "부분취소가 불가능한 거래입니다.",
        "gateway_code": -1,
    },
    "gateway_timeout": {
        "message": "The cancel was sent but its outcome is unknown; retry with the same "
        "Idempotency-Key (a retry cannot refund twice).",
        "retryable": True,
    },
    "state_unavailable": {"retryable": True},
}

# A lookup's answer (by imp_uid or by merchant_uid).
PAYMENT_ANSWER_EXAMPLE = {"status": "success", "payment": PAYMENT_EXAMPLE}

# PortOne V2 only: a cancel PortOne settles later.
CANCEL_PENDING_EXAMPLE = {
    "status": "pending",
    "payment": {**PAYMENT_EXAMPLE, "provider": "portone_v2"},
    "replayed": False,
    "reconciled": False,
}
