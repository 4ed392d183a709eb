"""What the app holds for its views: the I'mport client and the state store
(``app.extensions``)."""

from __future__ import annotations

from flask import current_app

from ..gateway import IamportClient
from ..state import StateStore


def iamport() -> IamportClient:
    """The app's I'mport client."""
    client: IamportClient = current_app.extensions["iamport"]
    return client


def state() -> StateStore:
    """The app's state store."""
    store: StateStore = current_app.extensions["state"]
    return store
