"""What the PortOne V2 gateway tests share: a directory kept in memory, the client, and V2
resources as PortOne shapes them."""

from __future__ import annotations

from typing import Any

from billing_service.gateway import PortOneClient

SECRET = "test-v2-secret"
STORE = "store-00000000-0000-0000-0000-000000000001"
CHANNEL = "channel-key-00000000-0000-0000-0000-000000000001"


class MemoryDirectory:
    """The host's directory of V2 ids, kept in a dict."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.payments: dict[str, str] = {}
        self.schedules: dict[str, str] = {}
        self.moving: dict[tuple[str, str], str] = {}
        self.issued_keys: set[str] = set()

    def billing_key(self, customer_uid: str) -> str | None:
        return self.keys.get(customer_uid)

    def keep_billing_key(self, customer_uid: str, billing_key: str) -> bool:
        self.keys[customer_uid] = billing_key
        return True

    def issued(self, billing_key: str) -> bool | None:
        return billing_key in self.issued_keys

    def keep_issued(self, billing_key: str) -> bool:
        self.issued_keys.add(billing_key)
        return True

    def forget_billing_key(self, customer_uid: str, billing_key: str) -> bool:
        if self.keys.get(customer_uid) == billing_key:
            del self.keys[customer_uid]
        return True

    def payment_id(self, imp_uid: str) -> str | None:
        return self.payments.get(imp_uid)

    def keep_payment_id(self, imp_uid: str, payment_id: str) -> None:
        self.payments[imp_uid] = payment_id

    def schedule_id(self, payment_id: str) -> str | None:
        return self.schedules.get(payment_id)

    def keep_schedule_id(self, payment_id: str, schedule_id: str) -> None:
        self.schedules[payment_id] = schedule_id

    def moving_schedule(self, customer_uid: str, schedule_id: str) -> str | None:
        return self.moving.get((customer_uid, schedule_id))

    def keep_moving_schedule(self, customer_uid: str, schedule_id: str, slot: str) -> bool:
        self.moving[customer_uid, schedule_id] = slot
        return True

    def drop_moving_schedule(self, customer_uid: str, schedule_id: str, slot: str) -> None:
        if self.moving.get((customer_uid, schedule_id)) == slot:
            del self.moving[customer_uid, schedule_id]


def make_client(url: str, directory: MemoryDirectory | None = None, **kwargs: Any) -> PortOneClient:
    return PortOneClient(
        url,
        SECRET,
        STORE,
        directory if directory is not None else MemoryDirectory(),
        channel_key=CHANNEL,
        **kwargs,
    )


CHANNEL_INFO = {
    "type": "TEST",
    "id": "channel-id-1",
    "key": CHANNEL,
    "name": "test channel",
    "pgProvider": "NICE_V2",
    "pgMerchantId": "nictest04m",
}


def key_info(
    billing_key: str = "billing-key-1",
    customer_uid: str = "uid",
    *,
    status: str = "ISSUED",
    issued_at: str = "2026-12-01T00:00:00Z",
    issuer: str | None = "BC_CARD",
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "publisher": issuer,
        "issuer": issuer,
        "brand": "LOCAL",
        "type": "CREDIT",
        "ownerType": "PERSONAL",
        "bin": "36000000",
        "name": "BC 바로카드",
        "number": "360000******0012",
    }
    return {
        "status": status,
        "billingKey": billing_key,
        "merchantId": "merchant-1",
        "storeId": STORE,
        "channels": [CHANNEL_INFO],
        "customer": {"id": customer_uid, "name": "홍길동", "email": "a@example.com"},
        "issuedAt": issued_at,
        "methods": [{"type": "BillingKeyPaymentMethodCard", "card": card}],
    }


def payment(
    status: str = "PAID",
    *,
    payment_id: str = "o-1",
    transaction_id: str = "tx-1",
    customer_uid: str = "uid",
    total: int = 9900,
    cancelled: int = 0,
    billing_key: str | None = "billing-key-1",
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": status,
        "id": payment_id,
        "transactionId": transaction_id,
        "merchantId": "merchant-1",
        "storeId": STORE,
        "version": "V2",
        "requestedAt": "2026-12-01T00:00:00Z",
        "updatedAt": "2026-12-01T00:00:01Z",
        "statusChangedAt": "2026-12-01T00:00:01Z",
        "orderName": "월간 구독",
        "amount": {
            "total": total,
            "taxFree": 0,
            "discount": 0,
            "paid": total if status in ("PAID", "PARTIAL_CANCELLED", "CANCELLED") else 0,
            "cancelled": cancelled,
            "cancelledTaxFree": 0,
        },
        "currency": "KRW",
        "customer": {"id": customer_uid},
        "origin": {"platformType": "API", "ipAddress": "127.0.0.1"},
        "channel": CHANNEL_INFO,
        "method": {
            "type": "PaymentMethodCard",
            "card": {"issuer": "KOOKMIN_CARD", "number": "530000******0019", "type": "CREDIT"},
            "approvalNumber": "30001234",
        },
    }
    if billing_key is not None:
        data["billingKey"] = billing_key
    if status in ("PAID", "PARTIAL_CANCELLED", "CANCELLED"):
        data.update(paidAt="2026-12-01T00:00:01Z", disputes=[], pgTxId="pg-tx-1")
    if status == "FAILED":
        data.update(
            failedAt="2026-12-01T00:00:01Z",
            failure={"reason": "declined", "pgCode": "8326", "pgMessage": "[8326]카드 한도초과"},
        )
    data.update(extra)
    return data


def error(error_type: str, message: str = "refused", **extra: Any) -> dict[str, Any]:
    return {"type": error_type, "message": message, **extra}


def schedule(
    status: str = "SCHEDULED",
    *,
    schedule_id: str = "sch-1",
    payment_id: str = "o-1",
    billing_key: str = "billing-key-1",
    customer_uid: str = "uid",
    total: int = 9900,
    time_to_pay: str = "2027-01-01T00:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """A ``PaymentSchedule`` as PortOne answers it."""
    data: dict[str, Any] = {
        "status": status,
        "id": schedule_id,
        "merchantId": "merchant-1",
        "storeId": STORE,
        "paymentId": payment_id,
        "billingKey": billing_key,
        "orderName": "월간 구독",
        "isCulturalExpense": False,
        "isEscrow": False,
        "customer": {"id": customer_uid, "name": "홍길동"},
        "customData": "",
        "totalAmount": total,
        "currency": "KRW",
        "createdAt": "2026-12-01T00:00:00Z",
        "timeToPay": time_to_pay,
    }
    if status in ("STARTED", "PENDING", "SUCCEEDED", "FAILED"):
        data["startedAt"] = time_to_pay
    if status in ("PENDING", "SUCCEEDED", "FAILED"):
        data["completedAt"] = time_to_pay
    if status == "REVOKED":
        data["revokedAt"] = "2026-12-02T00:00:00Z"
    data.update(extra)
    return data


def page(*items: dict[str, Any]) -> dict[str, Any]:
    return {"items": list(items), "page": {"number": 0, "size": len(items), "totalCount": 0}}
