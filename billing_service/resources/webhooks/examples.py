"""The OpenAPI examples of I'mport's notices."""

from __future__ import annotations

NOTICE_EXAMPLE = {
    "imp_uid": "imps_410026135413",
    "merchant_uid": "order_20270101_0001",
    "status": "paid",
}

RECEIVED_EXAMPLE = {"status": "received"}

# PortOne V2's webhook (version 2024-04-25) of a paid charge, and the headers it is signed with.
PORTONE_WEBHOOK_EXAMPLE = {
    "type": "Transaction.Paid",
    "timestamp": "2027-01-01T00:00:05.123Z",
    "data": {
        "paymentId": "order_20270101_0001",
        "transactionId": "0193f7a2-6a1c-7a1e-9c2b-3f1e5d0c8a41",
        "storeId": "store-00000000-0000-0000-0000-000000000000",
    },
}
PORTONE_HEADER_EXAMPLES = {
    "webhook-id": "msg_2xYkWq9bF0cD3eG5hJ7kL9mN1pQ",
    "webhook-timestamp": "1798761605",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}
