"""What the app holds for its views: the I'mport client and the state store
(``app.extensions``)."""

from __future__ import annotations

from flask import current_app

from ..gateway import PaymentGateway
from ..state import StateStore


def iamport() -> PaymentGateway:
    """The app's gateway client (I'mport's)."""
    client: PaymentGateway = current_app.extensions["iamport"]
    return client


def state() -> StateStore:
    """The app's state store."""
    store: StateStore = current_app.extensions["state"]
    return store
