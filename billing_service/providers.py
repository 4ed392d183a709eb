"""The gateway client of the configured provider (``BILLING_PROVIDER``), and what PortOne V2's
client keeps in the state store.

I'mport V1 takes the caller's ids as its own. PortOne V2 generates a key's ``billingKey`` and
lets one ``paymentId`` hold several attempts, so its client asks a ``Directory`` for V2's ids
behind the caller's: ``StoreDirectory`` keeps them in the state store, shared by every replica.
PortOne stays the source of truth: a mapping the store lost is searched for at PortOne.
"""

from __future__ import annotations

import logging

from .config import Settings
from .gateway import CallObserver, IamportClient, PaymentGateway, PortOneClient
from .state import StateStore, StateUnavailable

logger = logging.getLogger(__name__)

# How long an attempt's paymentId is remembered: past that, a lookup by imp_uid searches
# PortOne's payments (a call more, never a wrong answer). A key's mapping is kept for good.
PAYMENT_ID_TTL = 400 * 24 * 3600.0
# A schedule runs at most 366 days ahead: past that its mapping is not needed (a lookup of a
# forgotten one pages through PortOne's schedules).
SCHEDULE_ID_TTL = 400 * 24 * 3600.0


def build_gateway(
    settings: Settings, store: StateStore, observer: CallObserver, sandbox_url: str | None
) -> PaymentGateway:
    """The client of the configured provider (of the bundled sandbox at ``sandbox_url`` when
    the settings name none)."""
    portone = settings.portone
    if portone is not None:
        return PortOneClient(
            _url(settings, "PortOne V2", portone.api_url or sandbox_url),
            portone.api_secret,
            portone.store_id,
            StoreDirectory(store),
            channel_key=portone.channel_key,
            notice_url=portone.notice_url,
            connect_timeout=portone.connect_timeout,
            read_timeout=portone.read_timeout,
            lookup_timeout=portone.lookup_timeout,
            proxy_url=portone.proxy_url,
            ca_bundle=settings.iamport_ca_bundle,
            observer=observer,
        )
    return IamportClient(
        _url(settings, "I'mport", settings.iamport_api_url or sandbox_url),
        settings.iamport_api_key,
        settings.iamport_api_secret,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        proxy_url=settings.iamport_proxy_url,
        ca_bundle=settings.iamport_ca_bundle,
        observer=observer,
        channel_key=settings.channel_key,
    )


def _url(settings: Settings, provider: str, url: str | None) -> str:
    """The provider's URL (the factory starts a sandbox when the settings name none), told loud
    in sandbox mode."""
    assert url is not None, f"the factory starts the sandbox when no {provider} URL is set"
    if settings.sandbox:
        logger.warning(
            "SANDBOX MODE (BILLING_SANDBOX=true): using the %s sandbox at %s. "
            "No real billing key will be issued; every answer carries X-Billing-Sandbox: true.",
            provider,
            url,
        )
    return url


class StoreDirectory:
    """PortOne V2's ids behind the caller's, in the state store. Never raises (the client's
    Directory): a store that cannot read answers None, and PortOne is searched instead; one that
    cannot write drops the value, which is searched for next time."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def billing_key(self, customer_uid: str) -> str | None:
        return self._get(f"v2-key:{customer_uid}")

    def keep_billing_key(self, customer_uid: str, billing_key: str) -> bool:
        return self._put(f"v2-key:{customer_uid}", billing_key, None)

    def issued(self, billing_key: str) -> bool | None:
        try:
            return self._store.get_name(f"v2-issued:{billing_key}") is not None
        except StateUnavailable:
            logger.warning("A PortOne id could not be read from the state store", exc_info=True)
            return None

    def keep_issued(self, billing_key: str) -> bool:
        return self._put(f"v2-issued:{billing_key}", "1", None)

    def forget_billing_key(self, customer_uid: str, billing_key: str) -> bool:
        try:
            self._store.drop_name(f"v2-key:{customer_uid}", billing_key)
        except StateUnavailable:
            logger.warning("A PortOne id could not be dropped from the state store", exc_info=True)
            return False
        return True

    def payment_id(self, imp_uid: str) -> str | None:
        return self._get(f"v2-payment:{imp_uid}")

    def keep_payment_id(self, imp_uid: str, payment_id: str) -> None:
        self._put(f"v2-payment:{imp_uid}", payment_id, PAYMENT_ID_TTL)

    def schedule_id(self, payment_id: str) -> str | None:
        return self._get(f"v2-schedule:{payment_id}")

    def keep_schedule_id(self, payment_id: str, schedule_id: str) -> None:
        self._put(f"v2-schedule:{payment_id}", schedule_id, SCHEDULE_ID_TTL)

    def moving_schedule(self, customer_uid: str, schedule_id: str) -> str | None:
        return self._get(f"v2-moving:{customer_uid}:{schedule_id}")

    def keep_moving_schedule(self, customer_uid: str, schedule_id: str, slot: str) -> bool:
        return self._put(f"v2-moving:{customer_uid}:{schedule_id}", slot, None)

    def drop_moving_schedule(self, customer_uid: str, schedule_id: str, slot: str) -> None:
        try:
            self._store.drop_name(f"v2-moving:{customer_uid}:{schedule_id}", slot)
        except StateUnavailable:
            # Kept, the move looks at that schedule again next time and finds it moved.
            logger.warning("A moved schedule could not be forgotten", exc_info=True)

    def _get(self, name: str) -> str | None:
        try:
            return self._store.get_name(name)
        except StateUnavailable:
            logger.warning("A PortOne id could not be read from the state store", exc_info=True)
            return None

    def _put(self, name: str, value: str, ttl: float | None) -> bool:
        try:
            self._store.put_name(name, value, ttl)
        except StateUnavailable:
            logger.warning("A PortOne id could not be kept in the state store", exc_info=True)
            return False
        return True
