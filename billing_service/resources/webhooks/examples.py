"""The OpenAPI examples of I'mport's notices."""

from __future__ import annotations

NOTICE_EXAMPLE = {
    "imp_uid": "imps_410026135413",
    "merchant_uid": "order_20270101_0001",
    "status": "paid",
}

RECEIVED_EXAMPLE = {"status": "received"}
